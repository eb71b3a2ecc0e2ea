//! Harnesses shared by the bad-input tests. Each test file uses only some of it.
#![allow(dead_code)]

pub mod net;
pub mod pair;
