// SortedMap: a map kept as one sorted vector of (key, value) pairs, for the
// live state's pairs of a target (probe name -> PairState). Walking it is a
// walk over contiguous memory: a full evaluation reads a million pairs, and
// std::map's node-by-node pointer chasing was most of its time
// (docs/PERFORMANCE.md). Lookups are binary searches; inserting or erasing
// moves the elements after the position (a new probe for a target, a probe
// expired: rare next to updates, which happen in place).
//
// The subset of std::map's interface the collector uses: ordered iteration
// (structured bindings over std::pair<Key, Value>), find, operator[],
// try_emplace, erase by key or iterator, size, empty, clear. Unlike
// std::map, an insertion or erasure invalidates every iterator and
// reference; the key of an element must not be changed through an iterator.
//
// Thread-safety: none (like std::map); LiveState guards each one with its
// shard's lock.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

namespace parallax::collector {

template <typename Key, typename Value>
class SortedMap {
 public:
  using value_type = std::pair<Key, Value>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }

  iterator find(const Key& key) {
    iterator it = LowerBound(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  const_iterator find(const Key& key) const {
    const_iterator it = LowerBound(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  size_t count(const Key& key) const { return find(key) != items_.end() ? 1 : 0; }
  // The element of `key`; throws std::out_of_range when absent.
  const Value& at(const Key& key) const {
    const_iterator it = find(key);
    if (it == items_.end()) throw std::out_of_range("SortedMap::at: no such key");
    return it->second;
  }

  // The element of `key`, default-constructed first if absent.
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(const Key& key, Args&&... args) {
    iterator it = LowerBound(key);
    if (it != items_.end() && it->first == key) return {it, false};
    it = items_.emplace(it, std::piecewise_construct, std::forward_as_tuple(key),
                        std::forward_as_tuple(std::forward<Args>(args)...));
    return {it, true};
  }
  Value& operator[](const Key& key) { return try_emplace(key).first->second; }

  iterator erase(const_iterator it) { return items_.erase(it); }
  size_t erase(const Key& key) {
    iterator it = find(key);
    if (it == items_.end()) return 0;
    items_.erase(it);
    return 1;
  }

 private:
  iterator LowerBound(const Key& key) {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& item, const Key& k) { return item.first < k; });
  }
  const_iterator LowerBound(const Key& key) const {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& item, const Key& k) { return item.first < k; });
  }

  std::vector<value_type> items_;
};

}  // namespace parallax::collector
