// Bearer tokens checked as an EKS API server checks them, with fleetstrap's own EKSToken as the client.
import AWS
import FleetLab
import FleetSupport
import Foundation
import LabSupport
import SigV4
import Testing

@Suite("Lab: EKS token verification")
struct EKSTokenVerifierTests {
    let clock = MovableClock()
    let state: LabState
    let verifier: EKSTokenVerifier
    let session: AWSCredentials

    init() {
        let clock = self.clock
        state = LabState(config: LabFixture.config, now: { Date().addingTimeInterval(clock.offset.withLock { $0 }) })
        verifier = EKSTokenVerifier(state: state, labSTSHost: "127.0.0.1:8443")
        let identity = state.issueSession(
            roleARN: "arn:aws:iam::111111111111:role/fleetstrap", sessionName: "fleetstrap", duration: 3600)
        session = AWSCredentials(
            accessKeyID: identity.accessKeyID, secretAccessKey: identity.secret, sessionToken: identity.sessionToken)
    }

    func token(cluster: String = "prod-a", host: String = "127.0.0.1:8443", date: Date = Date()) -> String {
        EKSToken.make(clusterName: cluster, region: "eu-west-1", credentials: session, date: date, stsHost: host).token
            .reveal()
    }

    @Test func aGoodTokenNamesTheRoleSession() throws {
        let identity = try verifier.verify(token: token(), cluster: "prod-a").get()
        #expect(identity.arn == "arn:aws:sts::111111111111:assumed-role/fleetstrap/fleetstrap")
        #expect(identity.roleARN == "arn:aws:iam::111111111111:role/fleetstrap")
        // The global STS host signs as us-east-1 and is accepted too.
        #expect((try? verifier.verify(token: token(host: "sts.amazonaws.com"), cluster: "prod-a").get()) != nil)
    }

    /// STS at a regional host signs for that region only: a token scoped to another one fails there.
    @Test func aTokenScopedToAnotherRegionThanItsSTSHostIsRefused() throws {
        let regional = "sts.eu-west-1.amazonaws.com"
        #expect((try? verifier.verify(token: token(host: regional), cluster: "prod-a").get()) != nil)
        let elsewhere = EKSToken.make(
            clusterName: "prod-a", region: "us-west-2", credentials: session, date: Date(), stsHost: regional)
        guard case .failure(.signature(let why)) = verifier.verify(token: elsewhere.token.reveal(), cluster: "prod-a")
        else {
            Issue.record("a token for sts.eu-west-1 scoped to us-west-2 was accepted")
            return
        }
        #expect(why.contains("not 'us-west-2'"))
    }

    @Test func signaturesAreScopedAsAWSScopesThem() {
        #expect(LabSigV4Verifier.scopeProblem(region: "us-east-1", service: "iam") == nil)
        #expect(LabSigV4Verifier.scopeProblem(region: "eu-west-1", service: "iam") != nil)
        #expect(LabSigV4Verifier.scopeProblem(region: "eu-west-1", service: "sts") == nil)
        #expect(LabSigV4Verifier.scopeProblem(region: "xx-nowhere-9", service: "sts") != nil)
        #expect(LabSigV4Verifier.scopeProblem(region: "us-gov-west-1", service: "eks") == nil)
    }

    @Test func aTokenForAnotherClusterIsRefused() {
        guard case .failure(.signature) = verifier.verify(token: token(cluster: "dev-a"), cluster: "prod-a") else {
            Issue.record("a token signed for dev-a must not open prod-a")
            return
        }
    }

    @Test func fifteenMinutesAfterSigningItExpires() {
        let signed = token()
        clock.offset.withLock { $0 = 14 * 60 }
        #expect(
            (try? verifier.verify(token: signed, cluster: "prod-a").get()) != nil, "60 s X-Amz-Expires notwithstanding")
        clock.offset.withLock { $0 = 16 * 60 }
        guard case .failure(.expired) = verifier.verify(token: signed, cluster: "prod-a") else {
            Issue.record("a token signed 16 minutes ago was accepted")
            return
        }
    }

    @Test func malformedTokensAreRefused() {
        let good = token()
        let url = String(decoding: Base64URL.decode(good.dropFirst(EKSToken.prefix.count))!, as: UTF8.self)
        func wrap(_ u: String) -> String { EKSToken.prefix + Base64URL.encode(Array(u.utf8)) }
        let cases: [(String, String)] = [
            ("no prefix", String(good.dropFirst(3))),
            ("not base64", EKSToken.prefix + "%%%"),
            ("http", wrap(url.replacingOccurrences(of: "https://", with: "http://"))),
            ("other host", wrap(url.replacingOccurrences(of: "127.0.0.1:8443", with: "evil.example.com"))),
            ("other path", wrap(url.replacingOccurrences(of: "8443/?", with: "8443/x?"))),
            ("extra parameter", wrap(url + "&Extra=1")),
            ("repeated parameter", wrap(url + "&Action=GetCallerIdentity")),
            ("other action", wrap(url.replacingOccurrences(of: "Action=GetCallerIdentity", with: "Action=AssumeRole"))),
            ("too long", EKSToken.prefix + String(repeating: "A", count: 5000)),
        ]
        for (name, bad) in cases {
            guard case .failure = verifier.verify(token: bad, cluster: "prod-a") else {
                Issue.record("\(name) was accepted")
                continue
            }
        }
        let tampered = wrap(url.replacingOccurrences(of: "X-Amz-Expires=60", with: "X-Amz-Expires=900"))
        guard case .failure(.signature) = verifier.verify(token: tampered, cluster: "prod-a") else {
            Issue.record("a tampered token was accepted")
            return
        }
    }

    @Test func unknownCredentialsAreRefused() {
        let stranger = AWSCredentials(accessKeyID: "AKIASTRANGER00000000", secretAccessKey: "x")
        let t = EKSToken.make(
            clusterName: "prod-a", region: "eu-west-1", credentials: stranger, date: Date(), stsHost: "127.0.0.1:8443")
        guard case .failure(.signature) = verifier.verify(token: t.token.reveal(), cluster: "prod-a") else {
            Issue.record("a token from unknown credentials was accepted")
            return
        }
    }
}
