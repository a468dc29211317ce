/// Output of a guest script (e.g. one `ipvs-vm` boot) that brackets each step with a line
/// `@@ NAME` before and `@@rc N` (the step's exit status) after, split by step.
public struct GuestSections: Sendable {
    /// Each step's output exactly as printed: its lines, each ending in a newline.
    public var text: [String: String] = [:]
    /// Each step's exit status (-1 where the `@@rc` line has no number).
    public var status: [String: Int] = [:]

    public init(_ out: String) {
        var name: String?
        var buf: [Substring] = []
        for line in out.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@@rc "), let n = name {
                text[n] = buf.map { $0 + "\n" }.joined()
                status[n] = Int(line.dropFirst(5)) ?? -1
                name = nil
                buf = []
            } else if line.hasPrefix("@@ ") {
                name = String(line.dropFirst(3))
                buf = []
            } else if name != nil {
                buf.append(line)
            }
        }
    }

    /// The non-empty lines of step `name` (none when it did not run).
    public func lines(_ name: String) -> [String] {
        (text[name] ?? "").split(separator: "\n").map { String($0) }
    }
}
