// The shape every fleetstrap error shares: what went wrong, where, and what to do about it.

/// An error a person will read. `description` is the message; `hint` says what to do; neither holds secrets.
public protocol FleetError: Error, CustomStringConvertible, Sendable {
    /// A stable, label-safe class name for reports and metrics, e.g. `aws.Throttling` or `inventory.invalid`.
    var errorClass: String { get }
    /// What the user can do about it, when there is something to say.
    var hint: String? { get }
}

extension FleetError {
    public var hint: String? { nil }
}
