// Prints the preprocessed configuration in canonical keepalived syntax: one statement per
// line, four-space indentation, braces on the keyword's line, words quoted where needed.
// Unknown and misplaced keywords are left out (they are errors, reported separately).

enum Dumper {
    static func dump(_ tree: [SyntaxNode]) -> String {
        var out = ""
        // Explicit stack: (nodes, index, depth, kind) so deep trees cannot overflow.
        struct Frame { var nodes: [SyntaxNode]; var index: Int; var kind: BlockKind }
        var stack = [Frame(nodes: tree, index: 0, kind: .top)]
        while !stack.isEmpty {
            let depth = stack.count - 1
            let top = stack.count - 1
            guard stack[top].index < stack[top].nodes.count else {
                stack.removeLast()
                if !stack.isEmpty { out += String(repeating: "    ", count: depth - 1) + "}\n" }
                continue
            }
            let node = stack[top].nodes[stack[top].index]
            stack[top].index += 1
            let kind = stack[top].kind
            var childKind: BlockKind = .list
            if kind != .list && kind != .virtualServerGroup {
                guard let spec = Schema.lookup(node.keyword, in: kind) else { continue }
                if spec.block == nil && node.children != nil {
                    out += String(repeating: "    ", count: depth) + line(node.words) + "\n"
                    continue
                }
                childKind = spec.block ?? .list
                if spec.block != nil && node.children == nil && !spec.blockOptional { continue }
            }
            out += String(repeating: "    ", count: depth) + line(node.words)
            if let kids = node.children {
                out += " {\n"
                stack.append(Frame(nodes: kids, index: 0, kind: childKind))
            } else {
                out += "\n"
            }
        }
        return out
    }

    static func line(_ words: [Word]) -> String {
        words.map { quote($0.text) }.joined(separator: " ")
    }

    /// Quotes a word if it contains characters the lexer would treat specially.
    static func quote(_ s: String) -> String {
        if s.isEmpty { return "\"\"" }
        var needs = false
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "\\"),
                 UInt8(ascii: "#"), UInt8(ascii: "!"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "$"),
                 UInt8(ascii: "@"), UInt8(ascii: "~"), 0..<0x20, 0x7f:
                needs = true
            default: break
            }
        }
        guard needs else { return s }
        var out = "\""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case UInt8(ascii: "$"): out += "\\x24"
            case 0..<0x20, 0x7f:
                let hex = String(b, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            default: out.unicodeScalars.append(Unicode.Scalar(b))
            }
        }
        // Non-ASCII bytes were appended as Latin-1 scalars above; redo them as UTF-8.
        return s.utf8.allSatisfy({ $0 < 0x80 }) ? out + "\"" : quoteUTF8(s)
    }

    private static func quoteUTF8(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "$": out += "\\x24"
            default:
                if ch.value < 0x20 || ch.value == 0x7f {
                    let hex = String(ch.value, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out + "\""
    }
}
