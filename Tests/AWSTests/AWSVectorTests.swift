// Tests/Fixtures/reference/aws-vectors.json: EKS tokens, CodeCommit Git passwords and service signatures computed by
// AWS's own tools for fixed credentials and time.
import FleetSupport
import Foundation
import SigV4
import TestSupport
import Testing

@testable import AWS

@Suite("AWS vectors")
struct AWSVectorTests {
    let vectors: [String: Any]
    let credentials: [String: String]

    init() throws {
        let url = SharedData.url("reference/aws-vectors.json")
        vectors = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        credentials = vectors["credentials"] as! [String: String]
    }

    func creds(token: Bool) -> AWSCredentials {
        AWSCredentials(
            accessKeyID: credentials["accessKeyId"]!, secretAccessKey: credentials["secretAccessKey"]!,
            sessionToken: token ? credentials["sessionToken"] : nil)
    }

    let date = AWSTimestamp.parseISO8601("2024-01-02T03:04:05Z")!

    @Test func codeCommitGitPassword() {
        let v = vectors["codecommit"] as! [String: String]
        let plain = CodeCommitGitCredentials.make(
            host: v["host"]!, path: v["path"]!, region: v["region"]!, credentials: creds(token: false), date: date)
        #expect(plain.password.reveal() == v["password"])
        #expect(plain.username == "AKIDEXAMPLE")
        let temporary = CodeCommitGitCredentials.make(
            host: v["host"]!, path: v["path"]!, region: v["region"]!, credentials: creds(token: true), date: date)
        #expect(temporary.username == v["username_credentialHelper"])
        #expect(temporary.password.reveal() == v["password"], "the token is not signed")
        #expect(CodeCommitGitCredentials.region(ofHost: v["host"]!) == "us-east-1")
        // Printed or dumped, neither the session token (part of the username) nor the password shows.
        var dumped = ""
        dump(temporary, to: &dumped)
        for text in ["\(temporary)", String(reflecting: temporary), dumped] {
            #expect(!text.contains(credentials["sessionToken"]!) && !text.contains(temporary.password.reveal()))
        }
    }

    @Test func eksTokens() throws {
        let tokens = vectors["eksToken"] as! [[String: Any]]
        let regional = EKSToken.make(
            clusterName: "my-cluster", region: "us-east-1", credentials: creds(token: false), date: date)
        #expect(regional.token.reveal() == tokens[0]["token"] as? String)
        let global = EKSToken.make(
            clusterName: "my-cluster", region: "us-east-1", credentials: creds(token: false), date: date,
            stsHost: "sts.amazonaws.com")
        #expect(global.token.reveal() == tokens[1]["token"] as? String)
        let withToken = EKSToken.make(
            clusterName: "my-cluster", region: "eu-west-1", credentials: creds(token: true), date: date)
        let url = String(
            decoding: try #require(Base64URL.decode(withToken.token.reveal().dropFirst(EKSToken.prefix.count))),
            as: UTF8.self)
        #expect(url == tokens[2]["url_botocoreOrder"] as? String)
        #expect(regional.expiration == date.addingTimeInterval(14 * 60))
    }

    @Test func eksTokenCanonicalRequest() {
        let v = (vectors["eksToken"] as! [[String: Any]])[0]
        let request = SigV4Request(
            method: "GET", host: "sts.us-east-1.amazonaws.com", path: "/",
            query: [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
            headers: [("host", "sts.us-east-1.amazonaws.com"), ("x-k8s-aws-id", "my-cluster")])
        let signed = SigV4Signer(service: "sts", region: "us-east-1").presign(
            request, credentials: creds(token: false), date: date, expires: 60)
        #expect(signed.canonicalRequest == v["canonicalRequest"] as? String)
    }

    @Test func execCredentialMatchesAwscliLayout() {
        let token = EKSToken.make(
            clusterName: "my-cluster", region: "us-east-1", credentials: creds(token: false), date: date)
        let json = token.execCredentialJSON()
        #expect(
            json.hasPrefix(
                """
                {\n    \"kind\": \"ExecCredential\",\n    \"apiVersion\": \
                \"client.authentication.k8s.io/v1beta1\",\n    \"spec\": {},\n    \"status\": {\n        \
                \"expirationTimestamp\": \"2024-01-02T03:18:05Z\",\n        \"token\": \"k8s-aws-v1.
                """
            ))
        #expect(json.hasSuffix("\"\n    }\n}\n\n"))
    }
}
