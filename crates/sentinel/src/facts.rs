//! Immutable facts of running jobs (seed, sizes, config hash) kept in memory, so a lease
//! payload does not cost a store read per chunk. Entries go when the job ends
//! ([`crate::lifecycle`]).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::domain::JobId;
use crate::store::{Job, Store, StoreError};

/// The cache of job facts.
#[derive(Default)]
pub struct JobFacts {
    jobs: Mutex<HashMap<JobId, Arc<Job>>>,
}

impl JobFacts {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A job's immutable facts, read from `store` the first time; `None` if the job is gone.
    pub async fn get(&self, store: &dyn Store, id: JobId) -> Result<Option<Arc<Job>>, StoreError> {
        if let Some(j) = self.jobs.lock().get(&id) {
            return Ok(Some(j.clone()));
        }
        let Some(job) = store.job(id).await? else {
            return Ok(None);
        };
        // Only the immutable fields are ever read from the cache; drop the result blob.
        let job = Arc::new(Job {
            result: None,
            ..job
        });
        if !job.status.is_terminal() {
            self.jobs.lock().insert(id, job.clone());
        }
        Ok(Some(job))
    }

    /// Drops an ended job.
    pub fn forget(&self, id: JobId) {
        self.jobs.lock().remove(&id);
    }

    /// Jobs held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.jobs.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
