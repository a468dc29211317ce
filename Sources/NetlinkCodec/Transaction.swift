/// Collects the kernel's answer to one request: replies with the request's sequence number,
/// ended by an ACK (`NLMSG_ERROR` with 0), an error, or `NLMSG_DONE` for dumps.
///
/// Pure, so the matching rules are tested without a socket: messages for other sequence
/// numbers (late answers to an earlier request) are dropped, `NLM_F_DUMP_INTR` is remembered
/// so the caller can repeat the dump, and an error inside `NLMSG_DONE` is reported.
public struct NetlinkTransaction: Sendable {
    public let sequence: UInt32
    public let request: String
    public let isDump: Bool
    public private(set) var replies: [NetlinkMessage] = []
    public private(set) var isComplete = false
    /// A reply carried `NLM_F_DUMP_INTR`: the dump is inconsistent and should be repeated.
    public private(set) var wasInterrupted = false

    public init(sequence: UInt32, request: String, isDump: Bool) {
        self.sequence = sequence
        self.request = request
        self.isDump = isDump
    }

    /// Feeds one received message.
    /// - Returns: true once the answer is complete.
    /// - Throws: `NetlinkError` for a kernel error, `NetlinkDecodingError` for a malformed answer.
    public mutating func receive(_ m: NetlinkMessage) throws -> Bool {
        guard !isComplete, m.sequence == sequence else { return isComplete }
        if m.flags.contains(.dumpInterrupted) { wasInterrupted = true }
        switch m.type {
        case NetlinkConstants.noop:
            return false
        case NetlinkConstants.error:
            let ack = try NetlinkAck(parsing: m)
            if ack.errno != 0 {
                throw NetlinkError(code: .init(rawValue: ack.errno), request: request, kernelMessage: ack.kernelMessage)
            }
            isComplete = true
        case NetlinkConstants.done:
            // Since Linux 4.x NLMSG_DONE carries an int: 0 or -errno from the dump callback.
            if m.payload.count >= 4, let v = ByteLoad.host(Int32.self, m.payload[...]), v < 0 {
                var msg: String?
                if m.flags.contains(.ackTLVs), m.payload.count > 4 {
                    let attrs = try NetlinkAttribute.parseList(Array(m.payload[4...]), context: "NLMSG_DONE")
                    msg = attrs.first { $0.type == NetlinkConstants.errAttrMessage }?.string
                }
                throw NetlinkError(code: .init(rawValue: -v), request: request, kernelMessage: msg)
            }
            isComplete = true
        case NetlinkConstants.overrun:
            throw NetlinkError(code: .noBufferSpace, request: request, kernelMessage: "NLMSG_OVERRUN")
        default:
            replies.append(m)
        }
        return isComplete
    }
}
