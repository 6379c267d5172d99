//! Unit tests of the pure parts: specs and their times (`spec`), a schedule's transitions
//! (`state`).

mod spec;
mod state;
