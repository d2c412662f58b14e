import Testing
import Dispatch
import Glibc
import Kernels

/// The scratch memory the kernels keep between calls (`ScratchMemory`): a call's memory is its own while
/// it runs, whether another call is nested in it or runs beside it on another thread, and no more than
/// `largestKeptBytes` stay allocated after a call. Each check holds however other suites use the kept
/// buffer meanwhile (the kernels running in parallel suites take and give it back too).
@Suite("Scratch memory kept between calls")
struct ScratchMemoryTests {
    /// Fills `count` values at `scratch` with `pattern + i`.
    private static func fill(_ scratch: UnsafeMutablePointer<Int>, count: Int, pattern: Int) {
        for index in 0..<count { scratch[index] = pattern + index }
    }

    /// Whether the `count` values at `scratch` still hold `pattern + i`.
    private static func holds(_ scratch: UnsafeMutablePointer<Int>, count: Int, pattern: Int) -> Bool {
        (0..<count).allSatisfy { scratch[$0] == pattern + $0 }
    }

    @Test("a call nested in another gets memory of its own")
    func nestedCallsDoNotShare() {
        let count = 10_000
        // Twice: the second time the outer call may get the buffer the first time kept.
        for _ in 0..<2 {
            let outerHeld = ScratchMemory.withScratch(Int.self, count: count) { outer -> Bool in
                Self.fill(outer, count: count, pattern: 1_000_000)
                let innerHeld = ScratchMemory.withScratch(Int.self, count: count) { inner -> Bool in
                    Self.fill(inner, count: count, pattern: 2_000_000)
                    return Self.holds(inner, count: count, pattern: 2_000_000)
                }
                #expect(innerHeld)
                return Self.holds(outer, count: count, pattern: 1_000_000)
            }
            #expect(outerHeld, "the nested call wrote into the outer call's memory")
        }
    }

    @Test("calls on two threads at once never share memory")
    func concurrentCallsDoNotShare() {
        let rounds = 200, count = 4_096
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            for round in 0..<rounds {
                // Sizes that change from round to round, so buffers are kept, swapped and outgrown.
                let size = count + (round % 5) * 1_000
                let pattern = (thread + 1) * 10_000_000 + round * 10_000
                let held = ScratchMemory.withScratch(Int.self, count: size) { scratch -> Bool in
                    Self.fill(scratch, count: size, pattern: pattern)
                    // Let the other thread run its round meanwhile.
                    for _ in 0..<100 { sched_yield() }
                    return Self.holds(scratch, count: size, pattern: pattern)
                }
                if !held { failures.add() }
            }
        }
        #expect(failures.value == 0, "\(failures.value) rounds found their memory overwritten")
    }

    @Test("no buffer larger than the limit is kept")
    func largeBuffersAreFreed() {
        let count = ScratchMemory.largestKeptBytes / MemoryLayout<UInt8>.stride + 1
        ScratchMemory.withScratch(UInt8.self, count: count) { scratch in
            scratch[0] = 1
            scratch[count - 1] = 2
        }
        #expect(ScratchMemory.keptBytes <= ScratchMemory.largestKeptBytes)
    }
}

/// A counter several threads add to.
private final class Counter: @unchecked Sendable {
    private var count = 0
    private let lock = DispatchSemaphore(value: 1)
    func add() {
        lock.wait()
        count += 1
        lock.signal()
    }
    var value: Int {
        lock.wait()
        defer { lock.signal() }
        return count
    }
}
