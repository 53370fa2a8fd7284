//! nfl-runtime: the only crate that touches the kernel.
//!
//! - [`kernel`]: probes whether BPF is usable, the `require_kernel` test gate, bpffs.
//! - [`load`]: loads an ELF object with aya and reports verifier statistics.
//! - [`testrun`]: `BPF_PROG_TEST_RUN` on one packet.
//! - [`testfile`]: the `.test` packet-file format and its runner.
//! - [`pcap`]: reading classic pcap captures.
//! - [`netns`]: throw-away network namespaces with veth pairs, for tests.

pub mod kernel;
pub mod load;
pub mod netns;
pub mod pcap;
pub mod testfile;
pub mod testrun;

pub use kernel::{bpf_available, ensure_bpffs, require_kernel};
pub use load::{LoadError, LoadedProgram, ProgramKind, load, trim_verifier_log};
pub use testfile::{Case, CaseOutcome, Verdict, format_outcomes, run_cases};
pub use testrun::{RunError, RunResult, min_packet_len, test_run};
