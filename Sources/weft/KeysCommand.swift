import ArgumentParser
import Foundation
import WeftTransport

/// `weft keys …`: CURVE keys for a cluster's security section.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make CURVE keys for a cluster file's security section.",
        subcommands: [KeysGenerateCommand.self]
    )
}

/// `weft keys generate --output DIR --name NAME`: a new key pair in `NAME.key` (secret, mode
/// 0600) and `NAME.pub`.
struct KeysGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a new CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub.",
        discussion: """
            Make one pair per process (the coordinator, each task) and per client, and name them in the cluster \\
            file's security section. Existing files are never overwritten. Keep each secret key on its process's \\
            host only.
            """
    )

    @Option(help: "The folder to write the key files to (made when missing).")
    var output: String

    @Option(help: "The key's name: the files are NAME.key and NAME.pub.")
    var name: String

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }),
            !name.hasPrefix(".")
        else {
            throw ValidationError("--name: '\(name)' is not a key name; use letters, digits, '-', '_' and '.'")
        }
    }

    func run() throws {
        global.bootstrapLogging()
        do {
            try FileManager.default.createDirectory(
                atPath: output,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw ValidationError("--output: cannot make the folder \(output): \(error.localizedDescription)")
        }
        do {
            let pair = try CurveKeyPair.generate()
            let files = try CurveKeyFile.write(pair, to: output, name: name)
            say("wrote \(files.secret) (secret, mode 0600) and \(files.public): public key \(pair.publicKey)")
        } catch {
            throw ValidationError(error.message)
        }
    }
}
