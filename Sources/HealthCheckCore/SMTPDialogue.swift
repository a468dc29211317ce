/// SMTP_CHECK's dialogue (RFC 5321 §4.1, §4.2): wait for the 220 greeting, send `HELO name`,
/// expect 250, send `QUIT`. A value type: feed it received bytes, it says what to send and when the
/// check is over.
public struct SMTPDialogue: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case awaitingGreeting
        case awaitingHeloReply
        case succeeded
        case failed(String)
    }

    public enum Action: Sendable, Hashable {
        case send([UInt8])
        case succeed
        case fail(String)
    }

    public let heloName: String
    public private(set) var state: State = .awaitingGreeting
    private var buffer: [UInt8] = []

    /// `helo_name` defaults to `smtpchecker.keepalived.org`.
    public init(heloName: String = "smtpchecker.keepalived.org") {
        self.heloName = heloName
    }

    /// Feeds bytes from the server; returns the actions in order.
    public mutating func received(_ bytes: some Sequence<UInt8>) -> [Action] {
        buffer += bytes
        var actions: [Action] = []
        while let reply = takeReply() {
            switch state {
            case .awaitingGreeting:
                if reply == 220 {
                    state = .awaitingHeloReply
                    actions.append(.send(Array("HELO \(heloName)\r\n".utf8)))
                } else {
                    return actions + [fail("SMTP greeting code \(reply), expected 220")]
                }
            case .awaitingHeloReply:
                if reply == 250 {
                    state = .succeeded
                    actions.append(.send(Array("QUIT\r\n".utf8)))
                    actions.append(.succeed)
                } else {
                    return actions + [fail("SMTP HELO reply code \(reply), expected 250")]
                }
            case .succeeded, .failed:
                return actions
            }
        }
        if buffer.count > 4096 { actions.append(fail("SMTP reply longer than 4096 bytes")) }
        return actions
    }

    /// The server closed the connection.
    public mutating func closed() -> [Action] {
        switch state {
        case .succeeded, .failed: []
        default: [fail("SMTP server closed the connection before the dialogue ended")]
        }
    }

    private mutating func fail(_ why: String) -> Action {
        state = .failed(why)
        return .fail(why)
    }

    /// Takes one complete reply (possibly multi-line `250-…` then `250 …`) and returns its code;
    /// a malformed line gives code 0.
    private mutating func takeReply() -> Int? {
        var start = 0
        while let nl = buffer[start...].firstIndex(of: 10) {
            let line = buffer[start..<nl]
            start = nl + 1
            let code = line.count >= 3 ? Int(String(decoding: line.prefix(3), as: UTF8.self)) : nil
            let continued = line.count >= 4 && line[line.startIndex + 3] == UInt8(ascii: "-")
            if continued && code != nil { continue }
            buffer.removeFirst(start)
            return code ?? 0
        }
        return nil
    }
}
