import ArgumentParser

/// The root of the command tree: `vigil <subcommand>`.
public struct Vigil: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "A high-availability layer-4 load balancer compatible with keepalived and ipvsadm.",
        version: VigilVersion.string,
        subcommands: [
            Run.self,
            Status.self,
            LabCommand.self,
            Version.self,
            Check.self,
            IPVSAdmCommand.self,
            RealServerCommand.self,
            GenhashCommand.self,
        ]
    )

    public init() {}
}

public enum VigilVersion {
    public static let string = "0.1.0"
}

/// `vigil version`: prints the version.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Vigil's version.")

    func run() throws {
        print("Vigil v\(VigilVersion.string)")
    }
}
