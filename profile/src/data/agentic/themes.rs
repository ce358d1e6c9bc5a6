//! The themes a synthetic agentic session is drawn in, one per name of inference-perf 0.7.0's
//! built-in themes (`theme_mix` names them). The words are fleetbench's own: a theme gives the
//! agents' system prompts, the task's verbs and subjects, and the tools an agent advertises;
//! what a call sends is sized by the profile's token lengths, not by these texts.

/// One theme.
pub(crate) struct Theme {
    /// inference-perf's name of it.
    pub(crate) name: &'static str,
    /// What the root agent (the orchestrator) is told.
    pub(crate) root_prompt: &'static str,
    /// What a sub-agent is told.
    pub(crate) worker_prompt: &'static str,
    /// Task verbs.
    pub(crate) verbs: &'static [&'static str],
    /// What a session works on (one per session, kept by its sub-agents).
    pub(crate) subjects: &'static [&'static str],
    /// The tools, name and description (a catalog larger than this repeats them, suffixed).
    pub(crate) tools: &'static [(&'static str, &'static str)],
}

/// The built-in themes, by inference-perf's names.
pub(crate) const THEMES: [Theme; 4] = [
    Theme {
        name: "generic",
        root_prompt: "You lead the on-call response to a production incident. Work out what is failing and why with the diagnostic tools below, then give a short account of the cause and the fix you recommend. Look before you change anything.",
        worker_prompt: "You are a helper on an incident. Answer the one question you were given with the tools below and report what you found in a few sentences.",
        verbs: &["Investigate", "Explain", "Trace", "Check", "Narrow down"],
        subjects: &[
            "the order service timing out under load",
            "payment retries piling up in the queue",
            "a cache that stopped absorbing reads",
            "login errors after the last rollout",
        ],
        tools: &[
            ("service_status", "Current health and error rate of a service."),
            ("metric_series", "A metric's values over a time window."),
            ("log_search", "Log lines matching a query."),
            ("recent_rollouts", "Deployments of the last day."),
            ("upstream_health", "Health of a service's dependencies."),
            ("trace_sample", "A sampled request trace."),
            ("flag_state", "Feature flags and their values."),
            ("apply_fix", "Apply a remediation step."),
        ],
    },
    Theme {
        name: "db2_latency_incident",
        root_prompt: "You are the database engineer on call. Queries on the main database have slowed down; find out where the time goes with the tools below and say what to change.",
        worker_prompt: "You help a database engineer. Answer the question you were given with the tools below and report back briefly.",
        verbs: &["Examine", "Explain", "Measure", "Compare"],
        subjects: &[
            "slow reads on the orders table",
            "lock waits during the nightly batch",
            "a buffer pool hit ratio that fell",
            "a query plan that changed overnight",
        ],
        tools: &[
            ("pool_stats", "Buffer pool sizes and hit ratios."),
            ("lock_report", "Current lock holders and waiters."),
            ("log_usage", "Transaction log usage."),
            ("agent_threads", "What each database agent is doing."),
            ("deadlock_history", "Recent deadlocks."),
            ("plan_of", "The access plan of a statement."),
            ("table_stats", "Statistics of a table."),
            ("reorganize", "Reorganize a table."),
        ],
    },
    Theme {
        name: "research_rag",
        root_prompt: "You answer research questions from sources. Search, read and cross-check with the tools below, then write an answer that cites what it rests on.",
        worker_prompt: "You gather sources for a researcher. Find and read what bears on your question with the tools below and report the findings.",
        verbs: &["Research", "Summarize", "Compare", "Find evidence on"],
        subjects: &[
            "how batching affects serving latency",
            "what limits the context length of a model",
            "how prefix caching saves compute",
            "when speculative decoding pays off",
        ],
        tools: &[
            ("search_web", "Search results for a query."),
            ("open_page", "The text of a page."),
            ("search_library", "Passages from the local library."),
            ("read_document", "A document's text."),
            ("find_text", "Lines matching a pattern in a document."),
            ("list_collections", "The source collections available."),
            ("draft_answer", "Save a draft of the answer."),
        ],
    },
    Theme {
        name: "code_change_task",
        root_prompt: "You are a software engineer making a change in a repository. Read the code, make the change with the tools below, run the tests and say what you did.",
        worker_prompt: "You help with a code change. Do the part you were given with the tools below and report what you found or changed.",
        verbs: &["Fix", "Refactor", "Add", "Review"],
        subjects: &[
            "a retry loop that never gives up",
            "the parser's handling of empty input",
            "logging in the request path",
            "a flaky test of the scheduler",
        ],
        tools: &[
            ("list_files", "The files under a folder."),
            ("read_source", "A file's text."),
            ("search_code", "Lines matching a pattern."),
            ("find_definition", "Where a symbol is defined."),
            ("show_diff", "The working tree's changes."),
            ("run_suite", "Run the tests."),
            ("run_shell", "Run a command."),
            ("edit_source", "Change part of a file."),
        ],
    },
];

/// The theme named `name`.
pub(crate) fn theme(name: &str) -> Option<&'static Theme> {
    THEMES.iter().find(|t| t.name == name)
}
