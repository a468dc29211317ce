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
        case "ipvsadm":
            // Like ipvsadm, messages name the program as it was invoked (argv[0]).
            await IPVSAdmRunner.runAndExit(arguments: rest, program: arguments.first ?? "ipvsadm")
        case "ipvsadm-save":
            await IPVSAdmRunner.runSave(arguments: rest, program: program)
        case "ipvsadm-restore":
            await IPVSAdmRunner.runRestore(program: program)
        case "genhash": await GenhashCommand.main(rest)
        default:
            if rest.first == "ipvsadm" {
                await IPVSAdmRunner.runAndExit(arguments: Array(rest.dropFirst()), program: "vigil ipvsadm")
            }
            await Vigil.main(rest)
        }
    }
}
