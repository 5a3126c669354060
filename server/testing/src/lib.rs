//! What the API tests, the reliability suite and the benchmarks share: a scratch database and
//! data folder ([`Scratch`], or a test's [`TempDir`] and database URL), the real server binary as
//! a child process ([`process`]) and load generation ([`load`]).
pub mod load;
pub mod process;
mod scratch;

pub use scratch::{fresh_database_url, temp_dir, unique_name, Scratch, TempDir};
