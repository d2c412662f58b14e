import Testing

@testable import BatchNormCommands

/// Every error of the tool is one line: control characters in quoted paths are escaped and long
/// quotes lose their middle.
@Suite("Error lines")
struct MessageTextTests {
    @Test("newlines and other control characters are escaped")
    func singleLine() {
        #expect(MessageText.singleLine("a\nb\tc\u{2028}d") == #"a\nb\tc\u{2028}d"#)
        #expect(MessageText.errorLine("x\r\ny").contains("\n") == false)
    }

    @Test("a long quoted path keeps its start and end")
    func quotedShortening() {
        let path = "/" + String(repeating: "d", count: 10_000) + "/y.npy"
        let quoted = MessageText.quoted(path)
        #expect(quoted.count == MessageText.quotedLimit + 2)
        #expect(quoted.hasPrefix("'/ddd") && quoted.hasSuffix("/y.npy'") && quoted.contains("…"))
        #expect(MessageText.quoted("x.npy") == "'x.npy'")
    }

    @Test("shapes print as NumPy prints them")
    func shapes() {
        #expect(MessageText.shape([3]) == "(3,)")
        #expect(MessageText.shape([2, 3, 4]) == "(2, 3, 4)")
    }
}
