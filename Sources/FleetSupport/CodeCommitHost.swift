// CodeCommit's Git host names, as git-remote-codecommit and the AWS CLI read them (FIPS and VPC endpoints too).

public enum CodeCommitHost {
    /// The region a CodeCommit Git host names (`git-codecommit.<region>.amazonaws.com`), port ignored; nil otherwise.
    public static func region(of host: String) -> String? {
        let name = host.split(separator: ":").first.map(String.init) ?? host
        return name.wholeMatch(of: /(vpce-.+\.)?git-codecommit(-fips)?\.([^.]+)\.(vpce\.)?amazonaws\.com(\.cn)?/)
            .map { String($0.3) }
    }
}
