import Foundation
import LabSupport
import Testing

// The fault model's decisions, without a network: which requests a rule hits, how counts run out, how rate-limit
// buckets refill with time, and what each protocol answers.
@testable import FleetLab

@Suite("Lab: fault decisions")
struct FaultInjectorTests {
    let clock = MovableClock()
    let accounts: [LabConfig.Account] = [
        .init(name: "prod", id: "111111111111"), .init(name: "dev", id: "222222222222"),
    ]

    func injector(_ faults: LabFaults) -> FaultInjector {
        let clock = self.clock
        let injector = FaultInjector(
            accounts: accounts, now: { Date(timeIntervalSince1970: 1_800_000_000 + clock.offset.withLock { $0 }) })
        injector.set(faults)
        return injector
    }

    @Test func rulesMatchOnEveryFieldGivenAndCountsRunOut() {
        let faults = injector(
            LabFaults(rules: [
                .init(service: "iam", operation: "uploadsshpublickey", account: "prod", error: .throttling, count: 2)
            ]))
        let upload = FaultInjector.Call(service: "iam", operation: "UploadSSHPublicKey", accountID: "111111111111")
        #expect(
            faults.decide(.init(service: "iam", operation: "UploadSSHPublicKey", accountID: "222222222222")).error
                == nil)
        #expect(
            faults.decide(.init(service: "sts", operation: "UploadSSHPublicKey", accountID: "111111111111")).error
                == nil)
        #expect(faults.decide(upload).error == .throttling)
        #expect(faults.decide(upload).error == .throttling)
        #expect(faults.decide(upload).error == nil, "count: 2")
    }

    @Test func probabilityZeroNeverHitsAndLatenciesAddUp() {
        let faults = injector(
            LabFaults(rules: [
                .init(service: "eks", error: .unavailable, probability: 0),
                .init(service: "eks", latency: "100ms"), .init(latency: "20ms..20ms"),
            ]))
        let decision = faults.decide(.init(service: "eks", operation: "DescribeCluster"))
        #expect(decision.error == nil)
        #expect(abs(decision.latency - 0.12) < 1e-9)
    }

    @Test func rateLimitsRefillWithTimePerAccountAndRegion() {
        let faults = injector(LabFaults(rateLimits: [.init(service: "iam", perSecond: 2, burst: 2)]))
        let prod = FaultInjector.Call(service: "iam", accountID: "111111111111", region: "us-east-1")
        #expect(faults.decide(prod).error == nil)
        #expect(faults.decide(prod).error == nil)
        let third = faults.decide(prod)
        #expect(third.error == .throttling && third.rateLimited)
        #expect(
            faults.decide(.init(service: "iam", accountID: "222222222222", region: "us-east-1")).error == nil,
            "a budget per account")
        clock.offset.withLock { $0 += 0.5 }
        #expect(faults.decide(prod).error == nil, "one token back after half a second at 2/s")
        #expect(faults.decide(prod).error == .throttling)
    }

    @Test func eachProtocolAnswersInItsOwnShape() {
        var decision = FaultInjector.Decision()
        decision.error = .throttling
        let query = FaultAnswer.aws(.query(namespace: "https://iam.amazonaws.com/doc/2010-05-08/")).response(decision)
        #expect(query.status == 400 && String(decoding: query.body, as: UTF8.self).contains("<Code>Throttling</Code>"))
        let json = FaultAnswer.aws(.json).response(decision)
        #expect(json.status == 400 && String(decoding: json.body, as: UTF8.self).contains("ThrottlingException"))
        decision.error = .tooManyRequests
        decision.retryAfter = 3
        let eks = FaultAnswer.aws(.restJSON).response(decision)
        #expect(eks.status == 429 && eks.headers.contains { $0 == ("Retry-After", "3") })
        decision.error = .unavailable
        #expect(FaultAnswer.git.response(decision).status == 503)
        decision.error = .reset
        #expect(FaultAnswer.kubernetes.response(decision).abort)
    }

    @Test func latencyTextIsADurationOrARange() {
        #expect(LabFaults.latencyRange("50ms") == 0.05...0.05)
        #expect(LabFaults.latencyRange("20ms..1s") == 0.02...1)
        #expect(LabFaults.latencyRange("1s..20ms") == nil)
        #expect(LabFaults.latencyRange("soon") == nil)
    }
}
