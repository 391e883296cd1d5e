//! The listing contract of [`KeyStore::list`](crate::KeyStore::list),
//! defined once: the page size rule ([`effective_limit`]) and [`paginate`],
//! which applies prefix, start, limit and continuation to an arbitrary set
//! of names, for every back end that cannot page on the server side.

use crate::{ListPage, MAX_LIST};

/// The effective page size for a requested `limit`: `0` means "as many as
/// allowed", anything above [`MAX_LIST`] is capped.
pub(crate) fn effective_limit(limit: usize) -> usize {
    if limit == 0 || limit > MAX_LIST {
        MAX_LIST
    } else {
        limit
    }
}

/// Applies the [`KeyStore::list`](crate::KeyStore::list) contract to
/// `names` (in any order, possibly with duplicates): keeps the names
/// starting with `prefix` that are `>= start`, sorts them bytewise and
/// returns at most [`effective_limit(limit)`](effective_limit) of them;
/// `next` is the first name not returned, if any.
///
/// Back ends that fetch every remote name (AWS, Vault, CipherTrust, the
/// file system...) call this on the full set.
pub(crate) fn paginate<I>(names: I, prefix: &str, start: &str, limit: usize) -> ListPage
where
    I: IntoIterator<Item = String>,
{
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with(prefix) && n.as_str() >= start)
        .collect();
    names.sort_unstable();
    names.dedup();
    let limit = effective_limit(limit);
    let next = if names.len() > limit {
        let mut rest = names.split_off(limit);
        rest.truncate(1);
        rest.pop()
    } else {
        None
    };
    ListPage { names, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn paginate_filters_sorts_and_cuts() {
        let all = strings(&["b2", "a", "b1", "b3", "c", "b1"]);
        let page = paginate(all.clone(), "b", "", 2);
        assert_eq!(page.names, strings(&["b1", "b2"]));
        assert_eq!(page.next.as_deref(), Some("b3"));
        let page = paginate(all.clone(), "b", "b3", 2);
        assert_eq!(page.names, strings(&["b3"]));
        assert_eq!(page.next, None);
        let page = paginate(all.clone(), "", "b15", 0);
        assert_eq!(page.names, strings(&["b2", "b3", "c"]));
        assert_eq!(page.next, None);
        let page = paginate(all, "x", "", 10);
        assert!(page.names.is_empty());
        assert_eq!(page.next, None);
    }

    #[test]
    fn limits_are_capped() {
        assert_eq!(effective_limit(0), MAX_LIST);
        assert_eq!(effective_limit(7), 7);
        assert_eq!(effective_limit(MAX_LIST + 1), MAX_LIST);
        let names = (0..MAX_LIST + 5).map(|i| format!("k{i:05}"));
        let page = paginate(names, "", "", usize::MAX);
        assert_eq!(page.names.len(), MAX_LIST);
        assert_eq!(page.next, Some(format!("k{MAX_LIST:05}")));
    }

    #[test]
    fn duplicates_are_dropped_and_start_is_inclusive() {
        let all = strings(&["b", "a-2", "a-1", "x", "a-3", "a-1"]);
        let p = paginate(all.clone(), "a-", "", 2);
        assert_eq!(p.names, strings(&["a-1", "a-2"]));
        assert_eq!(p.next.as_deref(), Some("a-3"));
        let p = paginate(all.clone(), "a-", "a-3", 2);
        assert_eq!(p.names, strings(&["a-3"]));
        assert_eq!(p.next, None);
        let p = paginate(all, "", "", 0);
        assert_eq!(p.names, strings(&["a-1", "a-2", "a-3", "b", "x"]));
        let p = paginate(strings(&["a", "b"]), "", "", 2);
        assert_eq!(p.next, None);
    }
}
