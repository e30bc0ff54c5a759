import FleetSupport
import Inventory
import Testing

@Suite("Label selectors")
struct LabelSelectorTests {
    let prodCore = ["env": "prod", "tier": "core"]
    let prodEdge = ["env": "prod", "tier": "edge"]
    let dev = ["env": "dev"]

    @Test func equalityAndInequality() throws {
        let s = try LabelSelector("env=prod,tier!=edge")
        #expect(s.matches(prodCore))
        #expect(!s.matches(prodEdge))
        #expect(!s.matches(dev))
        #expect(try LabelSelector("env==dev").matches(dev))
    }

    @Test func setsAndExistence() throws {
        #expect(try LabelSelector("tier in (core, edge)").matches(prodEdge))
        #expect(!(try LabelSelector("tier in (core)").matches(dev)))
        #expect(try LabelSelector("tier notin (edge)").matches(dev))
        #expect(try LabelSelector("tier").matches(prodCore))
        #expect(try LabelSelector("!tier").matches(dev))
        #expect(try LabelSelector("").matches(dev))
    }

    @Test func malformedSelectorsAreRefused() {
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector("env=prod,") }
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector("bad key=x") }
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector("tier in ()") }
    }
}
