/// A min-heap of the nodes that carry an expiration, ordered by (expiration, path) so
/// that equal expirations still pop in the same order on every member.
///
/// Each node records its heap position, making removal and re-keying O(log n).
struct TTLHeap {
  private(set) var nodes: [Node] = []

  var top: Node? { nodes.first }

  mutating func insert(_ node: Node) {
    precondition(node.expiration != nil, "node \(node.path) without expiration in TTL heap")
    precondition(node.heapPosition == nil, "node \(node.path) already in TTL heap")
    nodes.append(node)
    node.heapPosition = nodes.count - 1
    siftUp(nodes.count - 1)
  }

  mutating func remove(_ node: Node) {
    guard let position = node.heapPosition else { return }
    let last = nodes.count - 1
    swapAt(position, last)
    nodes.removeLast()
    node.heapPosition = nil
    if position < nodes.count {
      siftDown(position)
      siftUp(position)
    }
  }

  /// Puts `node` where its (possibly new or removed) expiration belongs.
  mutating func update(_ node: Node) {
    remove(node)
    if node.expiration != nil { insert(node) }
  }

  private func less(_ a: Int, _ b: Int) -> Bool {
    let lhs = nodes[a]
    let rhs = nodes[b]
    if lhs.expiration! != rhs.expiration! { return lhs.expiration! < rhs.expiration! }
    return RawKey(lhs.path) < RawKey(rhs.path)
  }

  private mutating func swapAt(_ a: Int, _ b: Int) {
    nodes.swapAt(a, b)
    nodes[a].heapPosition = a
    nodes[b].heapPosition = b
  }

  private mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      if !less(child, parent) { return }
      swapAt(child, parent)
      child = parent
    }
  }

  private mutating func siftDown(_ start: Int) {
    var parent = start
    while true {
      var smallest = parent
      for child in [2 * parent + 1, 2 * parent + 2] where child < nodes.count {
        if less(child, smallest) { smallest = child }
      }
      if smallest == parent { return }
      swapAt(parent, smallest)
      parent = smallest
    }
  }
}
