/// Every line of both texts, those only in `old` marked "-", those only in
/// `new` marked "+".
func diff(_ old: String, _ new: String) -> String {
  let before = old.split(separator: "\n", omittingEmptySubsequences: false)
  let after = new.split(separator: "\n", omittingEmptySubsequences: false)
  let changes = after.difference(from: before)
  var removed = Set<Int>()
  var inserted = Set<Int>()
  for change in changes {
    switch change {
    case .remove(let offset, _, _): removed.insert(offset)
    case .insert(let offset, _, _): inserted.insert(offset)
    }
  }
  var lines: [String] = []
  var (i, j) = (0, 0)
  while i < before.count || j < after.count {
    if i < before.count && removed.contains(i) {
      lines.append("- " + before[i])
      i += 1
    } else if j < after.count && inserted.contains(j) {
      lines.append("+ " + after[j])
      j += 1
    } else {
      lines.append("  " + before[i])
      i += 1
      j += 1
    }
  }
  return lines.joined(separator: "\n")
}
