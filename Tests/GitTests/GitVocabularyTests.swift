// Small pieces: URLs printed without credentials, known_hosts patterns, host key pins, error classes.
import Foundation
import Git
import Testing

@Suite("Git: URLs, pins and errors")
struct GitVocabularyTests {
    @Test func urlsArePrintedWithoutCredentials() {
        #expect(
            GitURL.redacted("https://AKIA%2Btoken:pass@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
                == "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet")
        #expect(
            GitURL.redacted("ssh://APKAEXAMPLE@git-codecommit.us-east-1.amazonaws.com/v1/repos/a@b")
                == "ssh://git-codecommit.us-east-1.amazonaws.com/v1/repos/a@b")
        #expect(GitURL.redacted("/srv/git/fleet.git") == "/srv/git/fleet.git")
        let error = GitError(
            .authentication, operation: "push", remote: "https://user:secret@example.com/r", message: "refused")
        #expect(!"\(error)".contains("secret") && "\(error)".hasPrefix("git push https://example.com/r: refused"))
        #expect(error.errorClass == "git.authentication")
    }

    @Test func hostKeysArePinnedOnFirstUseAndAChangeIsNamed() {
        let pins = HostKeyPins()
        let key = Array("key-one".utf8)
        let other = Array("key-two".utf8)
        #expect(
            pins.check(host: "git-codecommit.eu-west-1.amazonaws.com", port: 22, keyType: "ssh-rsa", key: key)
                == .pinnedNow(line: "git-codecommit.eu-west-1.amazonaws.com ssh-rsa \(Data(key).base64EncodedString())")
        )
        #expect(
            pins.check(host: "git-codecommit.eu-west-1.amazonaws.com", port: nil, keyType: "ssh-rsa", key: key)
                == .matches)
        guard
            case .changed(let expected, let presented) = pins.check(
                host: "git-codecommit.eu-west-1.amazonaws.com", port: 22, keyType: "ssh-rsa", key: other)
        else {
            Issue.record("a changed key was accepted")
            return
        }
        #expect(expected.hasPrefix("SHA256:") && presented.hasPrefix("SHA256:") && expected != presented)
        #expect(HostKeyPins.pattern(host: "127.0.0.1", port: 2222) == "[127.0.0.1]:2222")
        let loaded = HostKeyPins(knownHosts: "# comment\n[127.0.0.1]:2222,localhost ssh-ed25519 AAAA\n")
        #expect(loaded.knownHostsLine(host: "127.0.0.1", port: 2222) == "[127.0.0.1]:2222 ssh-ed25519 AAAA")
        #expect(loaded.knownHostsLine(host: "localhost", port: 22) == "localhost ssh-ed25519 AAAA")
    }
}
