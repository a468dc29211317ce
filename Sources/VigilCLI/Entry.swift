#if canImport(Glibc)
import Glibc
#endif

/// Entry point shared by the executable: dispatches on the program name so that a copy or link of
/// the binary named `ipvsadm` or `genhash` behaves like those programs.
public enum VigilMain {
    public static func run(arguments: [String]) async {
        let program = arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "vigil"
        let rest = Array(arguments.dropFirst())
        switch program {
        case "genhash": await GenhashCommand.main(rest)
        default:
            await Vigil.main(rest)
        }
    }
}
