#include <zmq.h>
#ifdef __linux__
// The I/O loop waits on libzmq's descriptors with epoll, which Glibc's Swift module leaves out.
#include <sys/epoll.h>
#endif
