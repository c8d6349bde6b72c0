//! Planning a compose tree: GCS composes at most 32 source objects per request, so more parts
//! are composed level by level — groups of 32 into intermediate objects, those again, … — and
//! the last request writes the destination. Pure: names in, steps out.
//!
//! With 1024 parts (the most one upload uses: a composite object may have at most 1024
//! components) that is 32 + 1 requests in two levels; the steps of one level are independent
//! and run concurrently.

/// Most source objects one compose request takes (GCS's limit).
pub const MAX_SOURCES: usize = 32;

/// One compose request: `sources`, in order, into `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Source object names, in order.
    pub sources: Vec<String>,
    /// The object written.
    pub target: String,
}

/// The levels of compose requests that assemble `sources` (in order) into `target`; each
/// level's steps depend only on earlier levels. `intermediate(level, index)` names the
/// temporary objects. A group of one source at an inner level is carried up as is. No sources
/// means no steps (the caller writes an empty object).
pub fn plan(
    sources: &[String],
    target: &str,
    intermediate: impl Fn(usize, usize) -> String,
) -> Vec<Vec<Step>> {
    let mut levels = Vec::new();
    if sources.is_empty() {
        return levels;
    }
    let mut current = sources.to_vec();
    while current.len() > MAX_SOURCES {
        let level = levels.len();
        let mut steps = Vec::new();
        let mut next = Vec::new();
        for (index, group) in current.chunks(MAX_SOURCES).enumerate() {
            if group.len() == 1 {
                next.push(group[0].clone());
                continue;
            }
            let name = intermediate(level, index);
            steps.push(Step {
                sources: group.to_vec(),
                target: name.clone(),
            });
            next.push(name);
        }
        levels.push(steps);
        current = next;
    }
    levels.push(vec![Step {
        sources: current,
        target: target.to_string(),
    }]);
    levels
}

/// The intermediate objects a plan writes (to delete afterwards).
pub fn intermediates(levels: &[Vec<Step>]) -> Vec<String> {
    let last = levels.len().saturating_sub(1);
    levels[..last]
        .iter()
        .flatten()
        .map(|step| step.target.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("p{i}")).collect()
    }

    fn name(level: usize, index: usize) -> String {
        format!("i{level}-{index}")
    }

    /// Replays a plan: what each object holds, as the list of original sources.
    fn replay(sources: &[String], levels: &[Vec<Step>]) -> Vec<String> {
        let mut objects: std::collections::HashMap<String, Vec<String>> = sources
            .iter()
            .map(|s| (s.clone(), vec![s.clone()]))
            .collect();
        for level in levels {
            for step in level {
                assert!(step.sources.len() <= MAX_SOURCES, "{step:?}");
                let content = step
                    .sources
                    .iter()
                    .flat_map(|s| objects[s].clone())
                    .collect();
                objects.insert(step.target.clone(), content);
            }
        }
        objects["dst"].clone()
    }

    #[test]
    fn up_to_32_parts_is_one_compose() {
        for n in [1, 2, 31, 32] {
            let levels = plan(&names(n), "dst", name);
            assert_eq!(levels.len(), 1, "{n} parts");
            assert_eq!(levels[0][0].sources, names(n));
            assert!(intermediates(&levels).is_empty());
        }
        assert!(plan(&[], "dst", name).is_empty());
    }

    #[test]
    fn more_parts_compose_in_a_tree_that_keeps_their_order() {
        for n in [33, 64, 65, 100, 1023, 1024, 1025, 5000] {
            let sources = names(n);
            let levels = plan(&sources, "dst", name);
            assert_eq!(replay(&sources, &levels), sources, "{n} parts");
            let requests: usize = levels.iter().map(Vec::len).sum();
            assert!(
                requests <= n.div_ceil(31) + 1,
                "{n} parts: {requests} requests"
            );
        }
        // 33 = one group of 32 and one carried up: one intermediate, then the final compose.
        let levels = plan(&names(33), "dst", name);
        assert_eq!(levels.len(), 2);
        assert_eq!(intermediates(&levels), vec!["i0-0".to_string()]);
        assert_eq!(
            levels[1][0].sources,
            vec!["i0-0".to_string(), "p32".to_string()]
        );
        // 1024 parts: 32 intermediates in one level, then one compose.
        let levels = plan(&names(1024), "dst", name);
        assert_eq!((levels.len(), levels[0].len()), (2, 32));
    }
}
