import NIOCore
import NIOSSL

/// Sends a request when the channel becomes active, then collects every byte until the peer
/// closes, `isComplete` says the response is whole, or no byte arrives for `readTimeout`
/// (keepalived's connect_timeout also bounds each read).
final class CollectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Result {
        var bytes: [UInt8]
        var timedOut: Bool
    }

    private let request: [UInt8]
    private let readTimeout: TimeAmount
    private let isComplete: @Sendable ([UInt8]) -> Bool
    private let promise: EventLoopPromise<Result>
    private var bytes: [UInt8] = []
    private var timer: Scheduled<Void>?
    private var done = false

    init(request: [UInt8], readTimeout: TimeAmount, promise: EventLoopPromise<Result>, isComplete: @escaping @Sendable ([UInt8]) -> Bool) {
        self.request = request
        self.readTimeout = readTimeout
        self.promise = promise
        self.isComplete = isComplete
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context)
        if !request.isEmpty {
            let buf = context.channel.allocator.buffer(bytes: request)
            let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(buf)).whenFailure { err in
                handler.value.fail(err, context: ctx.value)
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buf = unwrapInboundIn(data)
        if let b = buf.readBytes(length: buf.readableBytes) { bytes += b }
        armTimer(context)
        if isComplete(bytes) { finish(context, timedOut: false) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, timedOut: false)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Many servers close without TLS close_notify; what arrived is the answer.
        if let s = error as? NIOSSLError, case .uncleanShutdown = s {
            finish(context, timedOut: false)
            return
        }
        fail(error, context: context)
    }

    private func armTimer(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: readTimeout) {
            handler.value.finish(ctx.value, timedOut: true)
        }
    }

    private func finish(_ context: ChannelHandlerContext, timedOut: Bool) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.succeed(Result(bytes: bytes, timedOut: timedOut))
        context.close(promise: nil)
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.fail(error)
        context.close(promise: nil)
    }
}

/// Runs `SMTPDialogue` on a connection.
final class SMTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var dialogue: HealthCheckCoreSMTP
    private let readTimeout: TimeAmount
    private let promise: EventLoopPromise<String?>
    private var timer: Scheduled<Void>?
    private var done = false

    init(heloName: String, readTimeout: TimeAmount, promise: EventLoopPromise<String?>) {
        self.dialogue = HealthCheckCoreSMTP(heloName: heloName)
        self.readTimeout = readTimeout
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buf = unwrapInboundIn(data)
        let b = buf.readBytes(length: buf.readableBytes) ?? []
        armTimer(context)
        handle(dialogue.received(b), context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handle(dialogue.closed(), context)
        finish(context, nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, "\(error)")
    }

    private func handle(_ actions: [HealthCheckCoreSMTP.Action], _ context: ChannelHandlerContext) {
        for a in actions {
            switch a {
            case .send(let bytes):
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
            case .succeed:
                finish(context, nil)
            case .fail(let why):
                finish(context, why)
            }
        }
    }

    private func armTimer(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: readTimeout) {
            handler.value.finish(ctx.value, "SMTP read timeout")
        }
    }

    private func finish(_ context: ChannelHandlerContext, _ failure: String?) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.succeed(failure)
        context.close(promise: nil)
    }
}
