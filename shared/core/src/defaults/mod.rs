//! Account defaults: the levels an account gives new audiences, and applying them to
//! existing ones.

pub mod apply;
