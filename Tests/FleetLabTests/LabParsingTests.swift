// The lab's hand-written readers that replaced regex literals on hot paths: a SigV4 Authorization header's
// parameters and a CodeCommit repository path, each held to what the pattern it replaced accepted.
import Testing

@testable import FleetLab

@Suite("Lab: header and path readers")
struct LabParsingTests {
    static let authorization =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

    @Test func sigV4HeaderParameters() {
        typealias V = LabSigV4Verifier
        #expect(
            V.parameter("Credential", in: Self.authorization) == "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request")
        #expect(V.parameter("SignedHeaders", in: Self.authorization) == "host;x-amz-date")
        #expect(
            V.parameter("Signature", in: Self.authorization)
                == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(
            V.parameter("Signature", in: "AWS4-HMAC-SHA256 XSignature=abc,Signature=def") == "def",
            "a longer name is not the name")
        #expect(V.parameter("Credential", in: "AWS4-HMAC-SHA256 Credential=, Signature=x") == nil)
        #expect(V.parameter("Credential", in: "AWS4-HMAC-SHA256 Signature=x") == nil)
        #expect(V.parameter("Credential", in: "AWS4-HMAC-SHA256 Credential=a/b\tSignature=x") == "a/b")
    }

    @Test(
        arguments: [
            ("/v1/repos/fleet-prod", "fleet-prod"), ("/v1/repos/My.Repo_1", "My.Repo_1"), ("/v1/repos/", nil),
            ("/v1/repos/a/b", nil),
            ("/v1/repos/a b", nil), ("/v2/repos/fleet", nil), ("/v1/repos/fleet-é", nil), ("v1/repos/fleet", nil),
        ] as [(String, String?)])
    func codeCommitRepositoryPaths(path: String, name: String?) {
        #expect(SourceFetcher.repositoryName(path).map(String.init) == name)
    }
}
