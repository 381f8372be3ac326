#if canImport(Glibc)
import Glibc
#endif

/// Unmaps from this process the pages it maps read-only from files: the code and constants of
/// `weft` and its libraries. An idle worker calls it with its other releases
/// (`IdleMemoryRelease`): start-up runs far more code than heartbeats do, and the kernel maps
/// 64 KiB about every page touched, so most of those pages would stay counted in the worker's
/// resident memory without ever being used again.
///
/// The pages stay in the page cache, shared with every process of the binary, and the kernel
/// maps them again on their next use. Only mappings without a page of their own are unmapped:
/// relocated read-only data (RELRO) holds the process's own copies, which a file cannot give back.
enum FilePages {
    /// Unmaps every read-only file mapping that holds no anonymous page.
    static func release() {
        #if os(Linux)
        // Line by line: the file is tens of kilobytes, which would stay in malloc's heaps.
        guard let file = fopen("/proc/self/smaps", "r") else { return }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var reader = SmapsReader()
        while getline(&line, &capacity, file) > 0, let line {
            guard let range = reader.read(Substring(String(cString: line))),
                let start = UnsafeMutableRawPointer(bitPattern: range.lowerBound)
            else { continue }
            _ = madvise(start, Int(range.upperBound - range.lowerBound), MADV_DONTNEED)
        }
        #endif
    }

    /// The address ranges of `/proc/PID/smaps` text that are read-only, backed by a file, and
    /// without anonymous pages.
    static func releasable(smaps: String) -> [Range<UInt>] {
        var reader = SmapsReader()
        return smaps.split(separator: "\n").compactMap { reader.read($0) }
    }
}

/// Reads `/proc/PID/smaps` a line at a time and gives the ranges `FilePages` releases.
struct SmapsReader {
    /// The mapping being read, while it may be released.
    private var candidate: Range<UInt>?

    /// Takes the next line; returns a mapping's range once its `Anonymous` line says it holds no
    /// page of its own.
    mutating func read(_ line: Substring) -> Range<UInt>? {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        if let mapping = Self.mapping(fields) {
            candidate = mapping
            return nil
        }
        guard fields.first == "Anonymous:", let range = candidate else { return nil }
        candidate = nil
        return fields.count > 1 && fields[1] == "0" ? range : nil
    }

    /// The range of a mapping's header line (`start-end perms offset device inode path`) when it
    /// maps a file read-only; `nil` for any other line.
    private static func mapping(_ fields: [Substring]) -> Range<UInt>? {
        // The path follows the inode after padding, and may hold spaces.
        guard fields.count == 6, fields[1] == "r-xp" || fields[1] == "r--p",
            fields[5].drop(while: { $0 == " " }).hasPrefix("/")
        else {
            return nil
        }
        let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
        guard bounds.count == 2, bounds[0] < bounds[1] else { return nil }
        return bounds[0]..<bounds[1]
    }
}
