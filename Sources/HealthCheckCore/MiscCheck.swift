/// MISC_CHECK's pure parts: splitting `misc_path` and judging the exit status.
public enum MiscCheckRules {
    /// Splits `misc_path "cmd args"` as keepalived does: words separated by blanks, with double or
    /// single quotes grouping words and backslash escaping the next character.
    public static func splitCommand(_ text: String) -> [String] {
        var words: [String] = []
        var cur = ""
        var inWord = false
        var quote: Character?
        var escape = false
        for c in text {
            if escape { cur.append(c); escape = false; inWord = true; continue }
            if c == "\\" && quote != "'" { escape = true; continue }
            if let q = quote {
                if c == q { quote = nil } else { cur.append(c) }
                continue
            }
            if c == "\"" || c == "'" { quote = c; inWord = true; continue }
            if c == " " || c == "\t" {
                if inWord { words.append(cur); cur = ""; inWord = false }
                continue
            }
            cur.append(c)
            inWord = true
        }
        if inWord { words.append(cur) }
        return words
    }

    /// How a script ended.
    public enum Termination: Sendable, Hashable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
    }

    /// keepalived: 0 = OK, 1 = fail, 2–255 = OK with weight exit − 2 when `misc_dynamic`
    /// (without it any non-zero status fails); a timeout or a signal fails.
    public static func outcome(_ t: Termination, dynamic: Bool, target: String, script: String) -> CheckOutcome {
        let head = "Misc check for [\(target)] by [\(script)]"
        switch t {
        case .exited(0):
            return .ok("\(head) succeeded.")
        case .exited(let s) where dynamic && s >= 2 && s <= 255:
            return .ok(weight: Int(s) - 2, "\(head) succeeded (exited with status \(s)).")
        case .exited(let s):
            return .failed("\(head) failed (exited with status \(s)).")
        case .signalled(let sig):
            return .failed("\(head) failed (killed by signal \(sig)).")
        case .timedOut:
            return .failed("\(head) timed out.")
        }
    }
}

/// FILE_CHECK's rule: the file holds an integer; value × weight (negated with `reverse`) is added
/// to the real server's weight. With weight 0, a non-zero value is a failure. A result at or below
/// −254 (keepalived's fault threshold) is a failure too.
public enum FileCheckRules {
    public static func outcome(fileText: String?, weight: Int, reverse: Bool, target: String) -> CheckOutcome {
        guard let text = fileText else { return .failed("FILE_CHECK for \(target): file cannot be read.") }
        let token = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).first
        let value = token.flatMap { Int($0) } ?? 0
        if weight == 0 {
            return value == 0 ? .ok(weight: 0) : .failed("FILE_CHECK for \(target): value \(value) is non-zero.")
        }
        let delta = value * weight * (reverse ? -1 : 1)
        if delta <= -254 { return .failed("FILE_CHECK for \(target): weight \(delta) is at the fault level.") }
        return .ok(weight: delta)
    }
}
