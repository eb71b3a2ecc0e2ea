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
