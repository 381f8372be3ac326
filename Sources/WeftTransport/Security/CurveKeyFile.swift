import Foundation
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CURVE keys in files: `NAME.pub` holds the public key, `NAME.key` the secret one (mode 0600),
/// each as its 40 Z85 characters on a line after a `#` comment that says what it is.
public enum CurveKeyFile {
    /// Writes `pair` to `directory/NAME.key` (mode 0600, created so no other user can ever read
    /// it) and `directory/NAME.pub`; returns their paths. Existing files are never overwritten:
    /// `alreadyExists` names the first one found.
    public static func write(
        _ pair: CurveKeyPair,
        to directory: String,
        name: String
    ) throws(WeftError) -> (secret: String, public: String) {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw WeftError(.invalidArgument, "'\(name)' is not a key name; use letters, digits, '-' and '_'")
        }
        let secretPath = (directory as NSString).appendingPathComponent("\(name).key")
        let publicPath = (directory as NSString).appendingPathComponent("\(name).pub")
        for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw WeftError(.alreadyExists, "\(path) exists; remove it first to make a new key pair named '\(name)'")
        }
        try create(
            secretPath,
            mode: 0o600,
            "# Weft CURVE secret key '\(name)': keep it on its process's host only, mode 0600.\n\(pair.secretKey.z85)\n"
        )
        try create(
            publicPath,
            mode: 0o644,
            "# Weft CURVE public key '\(name)': list it in the cluster file's security section.\n\(pair.publicKey.z85)\n"
        )
        return (secretPath, publicPath)
    }

    /// The public key in the file at `path`.
    public static func readPublic(_ path: String) throws(WeftError) -> CurveKey {
        try key(in: try contents(path, what: "public key"), path: path)
    }

    /// The key pair whose secret key is in the file at `path`. The file must be readable by its
    /// owner only (mode 0600 or stricter): `permissionDenied` otherwise, saying how to fix it.
    public static func readSecret(_ path: String) throws(WeftError) -> CurveKeyPair {
        try checkPrivate(path)
        return try CurveKeyPair(secretKey: try key(in: try contents(path, what: "secret key"), path: path))
    }

    /// Throws `permissionDenied` unless only the owner may read or write the file at `path`.
    public static func checkPrivate(_ path: String) throws(WeftError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw WeftError(.notFound, "cannot read the secret key file \(path): \(String(cString: strerror(errno)))")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw WeftError(
                .permissionDenied,
                "the secret key file \(path) has mode 0\(String(mode, radix: 8)): other users may read it; "
                    + "run 'chmod 600 \(path)'"
            )
        }
    }

    private static func contents(_ path: String, what: String) throws(WeftError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeftError(.notFound, "cannot read the \(what) file \(path); make keys with 'weft keys generate'")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private static func key(in text: String, path: String) throws(WeftError) -> CurveKey {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let line = lines.first(where: { !$0.isEmpty && !$0.hasPrefix("#") }) else {
            throw WeftError(.invalidArgument, "\(path) holds no key: expected 40 Z85 characters on a line")
        }
        do {
            return try CurveKey(z85: line)
        } catch {
            throw WeftError(.invalidArgument, "\(path): \(error.message)")
        }
    }

    private static func create(_ path: String, mode: mode_t, _ text: String) throws(WeftError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw WeftError(.permissionDenied, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        // The umask may have cleared bits of `mode`, never added any; set it exactly.
        fchmod(descriptor, mode)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw WeftError(.dataLoss, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
