//! Building ordered collections without the standard library's sort.
//!
//! `collect()` into a `BTreeMap` or `BTreeSet` first sorts the items with the stable
//! sort, which puts about 12 KB of code per element type into the browser build. The
//! protocol's maps and sets are small or built from already ordered items, so inserting
//! one by one costs nothing that matters and keeps the package small. The same holds for
//! `LiteMap` (the sorted-Vec map of the small maps): its `extend` and `collect` sort
//! too, so fill one with `insert`.

/// Builds `C` (a `BTreeMap`, `BTreeSet` or any other collection) by inserting `items` one
/// by one; use it instead of `collect()` for ordered collections.
pub(crate) fn insert_all<C, T>(items: impl IntoIterator<Item = T>) -> C
where
    C: Default + Extend<T>,
{
    let mut collection = C::default();
    collection.extend(items);
    collection
}

/// A set kept as a sorted `Vec`: the small sets of the protocol (views, push sets,
/// candidates, missing ids). Same order and methods as the `BTreeSet` it replaces, so the
/// protocol's choices (and the simulator's figures) do not change; a `BTreeSet` puts about
/// 5 KB of rebalancing code per element type into the browser build, this a few hundred
/// bytes. Inserting and removing move the elements after the spot: keep it for sets of at
/// most a few thousand small elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortedSet<T>(alloc::vec::Vec<T>);

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet(alloc::vec::Vec::new())
    }
}

impl<T: Ord> SortedSet<T> {
    /// An empty set.
    pub(crate) const fn new() -> Self {
        SortedSet(alloc::vec::Vec::new())
    }

    /// Adds `value`; false when it was already there.
    pub(crate) fn insert(&mut self, value: T) -> bool {
        match self.0.binary_search(&value) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, value);
                true
            }
        }
    }

    /// Removes `value`; false when it was not there.
    pub(crate) fn remove(&mut self, value: &T) -> bool {
        match self.0.binary_search(value) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `value` is in the set.
    pub(crate) fn contains(&self, value: &T) -> bool {
        self.0.binary_search(value).is_ok()
    }

    /// The smallest element.
    pub(crate) fn first(&self) -> Option<&T> {
        self.0.first()
    }

    /// Removes and returns the smallest element.
    pub(crate) fn pop_first(&mut self) -> Option<T> {
        if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        }
    }

    /// The elements in ascending order.
    pub(crate) fn iter(&self) -> core::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Ord> Extend<T> for SortedSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.insert(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sorted_set_keeps_its_elements_once_in_ascending_order() {
        let mut set = SortedSet::new();
        assert!(set.insert(5));
        assert!(set.insert(1));
        assert!(set.insert(3));
        assert!(!set.insert(3), "already there");
        assert_eq!(
            set.iter().copied().collect::<alloc::vec::Vec<_>>(),
            [1, 3, 5]
        );
        assert!(set.contains(&3) && !set.contains(&4));
        assert!(set.remove(&3));
        assert!(!set.remove(&3), "already gone");
        assert_eq!((set.len(), set.first()), (2, Some(&1)));
        assert_eq!(set.pop_first(), Some(1));
        assert_eq!(set.pop_first(), Some(5));
        assert!(set.is_empty());
        assert_eq!(set.pop_first(), None);
    }
}
