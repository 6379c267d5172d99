//! The namespace registry: rows in the store, cached for every request that names one, with
//! the search attributes registered in each.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use devserver_persistence::{NamespaceRow, Store};

use crate::error::{ServiceError, ServiceResult};
use crate::search_attributes::SearchAttributeRegistry;

/// Retention of namespaces the server creates itself (the real dev server's default).
const DEFAULT_RETENTION_SECONDS: i64 = 24 * 60 * 60;

/// The longest namespace name a request may carry (the real server's id length limit, in
/// bytes); longer ones are refused before an error could echo them.
const MAX_NAME_LENGTH: usize = 1000;

pub struct Namespaces {
    store: Store,
    cache: RwLock<BTreeMap<String, NamespaceRow>>,
    search_attributes: Arc<SearchAttributeRegistry>,
}

impl Namespaces {
    pub async fn load(store: Store) -> ServiceResult<Namespaces> {
        let rows = store.namespaces().await?;
        Ok(Namespaces {
            search_attributes: Arc::new(SearchAttributeRegistry::load(store.clone()).await?),
            store,
            cache: RwLock::new(
                rows.into_iter()
                    .map(|row| (row.name.clone(), row))
                    .collect(),
            ),
        })
    }

    pub fn get(&self, name: &str) -> ServiceResult<NamespaceRow> {
        if name.is_empty() {
            return Err(ServiceError::InvalidArgument("Namespace is empty.".into()));
        }
        if name.len() > MAX_NAME_LENGTH {
            return Err(ServiceError::InvalidArgument(
                "Namespace length exceeds limit.".into(),
            ));
        }
        let cache = self.cache.read().expect("namespace cache poisoned");
        cache
            .get(name)
            .cloned()
            .ok_or_else(|| ServiceError::NamespaceNotFound(name.to_owned()))
    }

    /// The custom search attributes of every namespace, and their check.
    pub fn search_attributes(&self) -> &Arc<SearchAttributeRegistry> {
        &self.search_attributes
    }

    pub fn list(&self) -> Vec<NamespaceRow> {
        self.cache
            .read()
            .expect("namespace cache poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Registers a namespace; `AlreadyExists` if the name is taken.
    pub async fn register(&self, row: NamespaceRow) -> ServiceResult<()> {
        if !self.store.insert_namespace(&row).await? {
            return Err(ServiceError::NamespaceAlreadyExists(row.name));
        }
        self.cache
            .write()
            .expect("namespace cache poisoned")
            .insert(row.name.clone(), row);
        Ok(())
    }

    /// Makes sure a namespace exists (the ones given on the command line).
    pub async fn ensure(&self, name: &str) -> ServiceResult<()> {
        if self.get(name).is_ok() {
            return Ok(());
        }
        self.register(NamespaceRow {
            name: name.to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            description: String::new(),
            owner_email: String::new(),
            retention_seconds: DEFAULT_RETENTION_SECONDS,
            data: Default::default(),
            // Unspecified, like the namespaces the real dev server creates at start.
            replication_state: 0,
        })
        .await
    }
}
