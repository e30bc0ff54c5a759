// Clusters from kubeconfig contexts: inline CA and token, and an exec credential plugin whose token is reused
// until it expires; clear errors for what kubectl would also refuse.
import FleetSupport
import Foundation
import Kube
import TestSupport
import Testing

@Suite("Kubeconfig")
struct KubeconfigTests {
    let folder: TemporaryFolder

    init() throws { folder = try TemporaryFolder("fleetstrap-kubeconfig") }

    func write(_ text: String) throws -> String {
        let path = folder.file("kubeconfig-\(UUID())").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let ca = Data("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()

    @Test func aContextWithATokenAndOneWithAnExecPlugin() async throws {
        let counter = folder.file("exec-count").path
        let path = try write(
            """
            apiVersion: v1
            kind: Config
            current-context: prod
            clusters:
            - name: prod
              cluster: {server: "https://prod.example:443", certificate-authority-data: \(Self.ca)}
            users:
            - name: static
              user: {token: abc}
            - name: exec
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1beta1
                  command: /bin/sh
                  args: ["-c", "echo x >> \(counter); printf \
            '{\\"kind\\":\\"ExecCredential\\",\\"status\\":{\\"token\\":\\"from-exec\\",\\"expirationTimestamp\\":\\"2\
            999-01-01T00:00:00Z\\"}}'"]
            contexts:
            - name: prod
              context: {cluster: prod, user: static}
            - name: prod-exec
              context: {cluster: prod, user: exec}
            """)
        let access = try Kubeconfig.access(path: path)
        #expect(access.server == "https://prod.example:443" && access.name == "prod")
        #expect(String(decoding: access.caPEM, as: UTF8.self).hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(try await access.tokens.token(refresh: false).reveal() == "abc")
        let exec = try Kubeconfig.access(path: path, context: "prod-exec")
        #expect(try await exec.tokens.token(refresh: false).reveal() == "from-exec")
        #expect(try await exec.tokens.token(refresh: false).reveal() == "from-exec")
        let runs = (try? String(contentsOfFile: counter, encoding: .utf8))?.split(separator: "\n").count
        #expect(runs == 1, "the token is reused until it expires")
        _ = try await exec.tokens.token(refresh: true)
        #expect((try? String(contentsOfFile: counter, encoding: .utf8))?.split(separator: "\n").count == 2)
    }

    @Test func whatKubectlWouldRefuseIsRefusedClearly() throws {
        let path = try write(
            """
            current-context: missing
            clusters:
            - name: c
              cluster: {server: "https://c.example"}
            users:
            - name: u
              user: {token: t}
            contexts:
            - name: ok
              context: {cluster: c, user: u}
            """)
        #expect { try Kubeconfig.access(path: path) } throws: {
            "\($0)".contains("no context named 'missing' (have: ok)")
        }
        #expect { try Kubeconfig.access(path: path, context: "ok") } throws: {
            "\($0)".contains("fleetstrap always verifies TLS")
        }
        #expect { try Kubeconfig.access(path: "/nonexistent/kubeconfig") } throws: { "\($0)".contains("not readable") }
    }

    /// TLS verification cannot be turned off from a kubeconfig: insecure-skip-tls-verify is refused by name, with or
    /// without a CA (kubectl itself refuses the two together).
    @Test func insecureSkipTLSVerifyIsRefusedNotObeyed() throws {
        for ca in [
            "", "\n    certificate-authority-data: \(Data("-----BEGIN CERTIFICATE-----\n".utf8).base64EncodedString())",
        ] {
            let path = try write(
                """
                current-context: c
                clusters:
                - name: c
                  cluster:
                    server: https://c.example
                    insecure-skip-tls-verify: true\(ca)
                users:
                - name: u
                  user: {token: t}
                contexts:
                - name: c
                  context: {cluster: c, user: u}
                """)
            #expect { try Kubeconfig.access(path: path) } throws: {
                "\($0)".contains("sets insecure-skip-tls-verify: fleetstrap always verifies TLS")
            }
        }
    }
}
