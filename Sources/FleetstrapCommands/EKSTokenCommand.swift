// `fleetstrap eks-token`: a drop-in for `aws eks get-token`, usable as a kubeconfig exec plugin.
import AWS
import ArgumentParser
import Foundation
import SigV4

struct EKSTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eks-token",
        abstract: "Print an EKS bearer token as the ExecCredential `aws eks get-token` prints.",
        discussion: """
            In a kubeconfig:
              users:
              - name: eks
                user:
                  exec:
                    apiVersion: client.authentication.k8s.io/v1beta1
                    command: fleetstrap
                    args: [eks-token, --cluster-name, prod-a, --region, eu-west-1]
            Credentials come from the usual chain (environment, AWS_PROFILE, IRSA, container, IMDS).
            """)

    @Option(help: "The EKS cluster name (signed as x-k8s-aws-id).")
    var clusterName: String

    @Option(help: "The cluster's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region).")
    var region: String?

    @Option(help: "Assume this role first and sign with its session.")
    var roleArn: String?

    @Option(help: "The profile to use (default: AWS_PROFILE).")
    var profile: String?

    func run() async throws {
        var variables = ProcessInfo.processInfo.environment
        if let profile { variables["AWS_PROFILE"] = profile }
        let aws: AWSEnvironment
        do { aws = try AWSEnvironment(variables: variables) } catch { throw CommandFailure.couldNotStart("\(error)") }
        guard let region = region ?? aws.region else {
            throw CommandFailure.invalidInput("no region: pass --region or set AWS_REGION")
        }
        var apiVersion = "client.authentication.k8s.io/v1beta1"
        if let info = variables["KUBERNETES_EXEC_INFO"], !info.isEmpty,
            let object = try? JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any],
            let requested = object["apiVersion"] as? String, EKSToken.execCredentialAPIVersions.contains(requested)
        {
            apiVersion = requested
        }
        do {
            var credentials = try await aws.defaultCredentials(region: region).credentials()
            if let roleArn {
                let sts = STSClient(client: aws.client, region: region)
                credentials = try await sts.assumeRole(
                    .init(roleARN: roleArn, sessionName: "EKSGetTokenAuth"),
                    credentials: StaticCredentialProvider(credentials))
            }
            let token = EKSToken.make(
                clusterName: clusterName, region: region, credentials: credentials, date: Date(),
                stsHost: aws.client.configuration.endpoints.stsHost(region: region))
            FileHandle.standardOutput.write(Data(token.execCredentialJSON(apiVersion: apiVersion).utf8))
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw CommandFailure.couldNotStart(describe(error))
        }
    }
}
