import HealthCheckCore
typealias HealthCheckCoreSMTP = SMTPDialogue
