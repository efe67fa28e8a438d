import Foundation
import Testing

@testable import MVCC

@Suite struct RevisionTests {
  @Test func bytesAreBigEndianMainUnderscoreSub() {
    let encoded = Revision(main: 0x0102, sub: 3).bytes()
    #expect(encoded == [0, 0, 0, 0, 0, 0, 1, 2, UInt8(ascii: "_"), 0, 0, 0, 0, 0, 0, 0, 3])
    #expect(Revision(main: 5, sub: 1).bytes(tombstone: true).last == UInt8(ascii: "t"))
    #expect(Revision(main: 5, sub: 1).bytes(tombstone: true).count == 18)
  }

  @Test func parseRoundTripsAndRejectsOtherShapes() {
    for (revision, tombstone) in [
      (Revision(main: 2), false), (Revision(main: 1 << 40, sub: 7), true),
    ] {
      let parsed = revision.bytes(tombstone: tombstone).withUnsafeBytes { Revision.parse($0) }
      #expect(parsed?.revision == revision && parsed?.tombstone == tombstone)
    }
    var wrongSeparator = Revision(main: 2).bytes()
    wrongSeparator[8] = UInt8(ascii: "-")
    var wrongMark = Revision(main: 2).bytes()
    wrongMark.append(UInt8(ascii: "x"))
    for bad in [wrongSeparator, wrongMark, [UInt8](repeating: 0, count: 16)] {
      #expect(bad.withUnsafeBytes { Revision.parse($0) } == nil)
    }
  }

  @Test func byteOrderIsRevisionOrder() {
    let revisions = [
      Revision(main: 1), Revision(main: 1, sub: 1), Revision(main: 1, sub: 256), Revision(main: 2),
      Revision(main: 256), Revision(main: 1 << 33, sub: 0),
    ]
    for (earlier, later) in zip(revisions, revisions.dropFirst()) {
      #expect(earlier < later)
      #expect(earlier.bytes().lexicographicallyPrecedes(later.bytes()))
      #expect(earlier.bytes(tombstone: true).lexicographicallyPrecedes(later.bytes()))
    }
  }
}
