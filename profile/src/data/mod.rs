//! The request data a profile names, read by the coordinator when it loads the profile:
//! ShareGPT and Mooncake files (`files.rs`), inference-perf's Azure trace CSVs (`azure.rs`),
//! Hub datasets and tokenizers (`hub.rs`, `tokenizer.rs`; a tokenizer's chat template in
//! `chat_template.rs`; `data.corpus_file_path`'s words in `corpus.rs`; the crates behind the `hf` feature
//! in `hf.rs`; a dataset's split as `datasets` picks its files in `data_files.rs` (its card's own
//! `configs` in `dataset_card.rs`), found and
//! downloaded in `hub_dataset.rs`, its rows read in `dataset_rows.rs`), OTel traces as replay graphs (`otel/`; Weka traces in `weka/`, inference-perf's synthetic agentic sessions generated in `agentic/`), and the [`DataSpec`] every shard
//! carries (`plan.rs`).
//!
//! [`DataSpec`]: fleetbench_model::data::DataSpec

pub(crate) mod agentic;
pub(crate) mod azure;
pub(crate) mod chat_template;
pub(crate) mod corpus;
pub(crate) mod data_files;
pub(crate) mod dataset_card;
pub(crate) mod dataset_rows;
pub(crate) mod draw;
pub(crate) mod files;
pub(crate) mod hf;
pub(crate) mod hub;
pub(crate) mod hub_dataset;
pub(crate) mod otel;
pub(crate) mod plan;
pub(crate) mod python_random;
pub(crate) mod text_datasets;
pub(crate) mod tokenizer;
pub(crate) mod visionarena;
pub(crate) mod weka;

#[cfg(all(test, feature = "hf"))]
mod chat_template_tests;
#[cfg(test)]
mod conversation_tests;
#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod data_files_tests;
#[cfg(all(test, not(feature = "hf")))]
mod hf_off_tests;
#[cfg(all(test, feature = "hf"))]
pub(crate) mod hub_mock;
#[cfg(all(test, feature = "hf"))]
mod hub_tests;
#[cfg(test)]
mod tests;
#[cfg(all(test, feature = "hf"))]
mod visionarena_tests;
