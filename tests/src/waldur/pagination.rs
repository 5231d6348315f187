//! Waldur's `LinkHeaderPagination`: bare JSON array body, `X-Result-Count` and a `Link`
//! header with first/prev/next/last absolute URLs (query keys sorted, like DRF's
//! `replace_query_param`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::context::Ctx;
use super::reply::Reply;
use super::util::quote_plus;

pub(crate) const DEFAULT_PAGE_SIZE: usize = 10;
pub(crate) const MAX_PAGE_SIZE: usize = 300;

/// DRF `_positive_int(strict=True, cutoff=max)`; anything invalid falls back to the default.
fn page_size(ctx: &Ctx) -> usize {
    match ctx.query.get("page_size").map(str::trim) {
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n > 0 => (n as usize).min(MAX_PAGE_SIZE),
            _ => DEFAULT_PAGE_SIZE,
        },
        None => DEFAULT_PAGE_SIZE,
    }
}

/// The requested page of a list of `count` items: `(page, size, number of pages)`;
/// `None` for a page that does not exist.
fn requested_page(ctx: &Ctx, count: usize) -> Option<(usize, usize, usize)> {
    let size = page_size(ctx);
    let num_pages = count.div_ceil(size).max(1);
    let page = match ctx.query.get("page") {
        None => 1,
        Some("last") => num_pages,
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if n >= 1 && (n as usize) <= num_pages => n as usize,
            _ => return None,
        },
    };
    Some((page, size, num_pages))
}

/// The items `paginate_with` will show for a list of `count` items (`None` for a HEAD
/// request or a page that does not exist): lets a handler order just that window.
pub(crate) fn page_window(ctx: &Ctx, count: usize) -> Option<std::ops::Range<usize>> {
    if ctx.is_head() {
        return None;
    }
    let (page, size, _) = requested_page(ctx, count)?;
    let start = ((page - 1) * size).min(count);
    Some(start..(start + size).min(count))
}

/// Orders `items` so that the `window` holds exactly what a full sort would put there, in
/// order, in time linear in `items` (`cmp` must be a total order): paging a list of
/// 200,000 rows does not sort them all for every page.
pub(crate) fn order_window<T>(
    items: &mut [T],
    window: std::ops::Range<usize>,
    mut cmp: impl FnMut(&T, &T) -> std::cmp::Ordering,
) {
    if window.is_empty() {
        return;
    }
    if window.start > 0 {
        items.select_nth_unstable_by(window.start, &mut cmp);
    }
    let rest = &mut items[window.start..];
    let len = window.len();
    if len < rest.len() {
        rest.select_nth_unstable_by(len - 1, &mut cmp);
    }
    rest[..len].sort_by(cmp);
}

/// The request URL with `page` replaced (or removed when `None`).
fn page_url(ctx: &Ctx, page: Option<usize>) -> String {
    let mut grouped: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (k, v) in ctx.query.pairs() {
        grouped.entry(k.as_str()).or_default().push(v.clone());
    }
    match page {
        Some(p) => {
            grouped.insert("page", vec![p.to_string()]);
        }
        None => {
            grouped.remove("page");
        }
    }
    let query: Vec<String> = grouped
        .iter()
        .flat_map(|(k, vs)| {
            vs.iter()
                .map(move |v| format!("{}={}", quote_plus(k), quote_plus(v)))
        })
        .collect();
    let base = format!("{}{}", ctx.origin, ctx.path);
    if query.is_empty() {
        base
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

/// Paginates an already filtered and ordered list, applying `?field=` to each item.
pub(crate) fn paginate(ctx: &Ctx, items: Vec<Value>) -> Reply {
    paginate_with(ctx, items, |v| v)
}

/// As [`paginate`], but renders only the items of the requested page: listing a large
/// world page by page stays linear instead of rendering every item for every page.
pub(crate) fn paginate_with<T>(ctx: &Ctx, items: Vec<T>, render: impl Fn(T) -> Value) -> Reply {
    let count = items.len();
    if ctx.is_head() {
        return Reply::empty(200).header("X-Result-Count", count.to_string());
    }
    let Some((page, size, num_pages)) = requested_page(ctx, count) else {
        return Reply::detail(404, "Invalid page.");
    };
    let start = (page - 1) * size;
    let body: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(size)
        .map(|item| ctx.restrict(render(item)))
        .collect();

    let mut links = vec![format!("<{}>; rel=\"first\"", page_url(ctx, None))];
    if page > 1 {
        let prev = if page == 2 { None } else { Some(page - 1) };
        links.push(format!("<{}>; rel=\"prev\"", page_url(ctx, prev)));
    }
    if page < num_pages {
        links.push(format!("<{}>; rel=\"next\"", page_url(ctx, Some(page + 1))));
    }
    links.push(format!(
        "<{}>; rel=\"last\"",
        page_url(ctx, Some(num_pages))
    ));

    Reply::json(200, Value::Array(body))
        .header("X-Result-Count", count.to_string())
        .header("Link", links.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waldur::query::Query;
    use serde_json::json;

    fn ctx(query: &str) -> Ctx {
        Ctx {
            method: "GET".into(),
            path: "/api/marketplace-orders/".into(),
            raw_query: query.into(),
            query: Query::parse(query),
            origin: "http://h:1".into(),
            authorization: None,
            content_type: None,
            body: Vec::new(),
        }
    }

    fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    #[test]
    fn middle_page_has_all_rels_with_sorted_query() {
        let items: Vec<Value> = (0..25).map(|i| json!({"i": i, "x": 1})).collect();
        let r = paginate(&ctx("state=b&page_size=10&page=2&field=i&state=a"), items);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            Some(json!((10..20).map(|i| json!({"i": i})).collect::<Vec<_>>()))
        );
        assert_eq!(header(&r, "X-Result-Count"), "25");
        let base = "http://h:1/api/marketplace-orders/?field=i";
        assert_eq!(
            header(&r, "Link"),
            format!(
                "<{base}&page_size=10&state=b&state=a>; rel=\"first\", \
                 <{base}&page_size=10&state=b&state=a>; rel=\"prev\", \
                 <{base}&page=3&page_size=10&state=b&state=a>; rel=\"next\", \
                 <{base}&page=3&page_size=10&state=b&state=a>; rel=\"last\""
            )
        );
    }

    #[test]
    fn empty_list_and_invalid_pages() {
        let r = paginate(&ctx(""), vec![]);
        assert_eq!(r.body, Some(json!([])));
        assert_eq!(
            header(&r, "Link"),
            "<http://h:1/api/marketplace-orders/>; rel=\"first\", <http://h:1/api/marketplace-orders/?page=1>; rel=\"last\""
        );
        for bad in ["page=2", "page=0", "page=x", "page="] {
            let r = paginate(&ctx(bad), vec![json!(1)]);
            assert_eq!(r.status, 404, "{bad}");
            assert_eq!(r.body, Some(json!({"detail": "Invalid page."})));
        }
        let r = paginate(
            &ctx("page=last&page_size=2"),
            (0..5).map(|i| json!(i)).collect(),
        );
        assert_eq!(r.body, Some(json!([4])));
    }

    #[test]
    fn only_the_requested_page_is_rendered() {
        let rendered = std::cell::Cell::new(0);
        let r = paginate_with(
            &ctx("page=2&page_size=10"),
            (0..1000).collect(),
            |i: i32| {
                rendered.set(rendered.get() + 1);
                json!(i)
            },
        );
        assert_eq!(r.body, Some(json!((10..20).collect::<Vec<_>>())));
        assert_eq!(header(&r, "X-Result-Count"), "1000");
        assert_eq!(rendered.get(), 10);
    }

    #[test]
    fn page_size_is_clamped_and_defaulted() {
        let items: Vec<Value> = (0..400).map(|i| json!(i)).collect();
        let sizes = [
            ("page_size=1000", 300),
            ("page_size=0", 10),
            ("page_size=-3", 10),
            ("", 10),
        ];
        for (q, expected) in sizes {
            let r = paginate(&ctx(q), items.clone());
            assert_eq!(r.body.unwrap().as_array().unwrap().len(), expected, "{q}");
        }
    }

    #[test]
    fn an_ordered_window_is_the_slice_of_a_full_sort() {
        // Many ties in the first key; the second makes the order total.
        let items: Vec<(u32, usize)> = (0..517).map(|i| ((i * 7919 % 13) as u32, i)).collect();
        let mut full = items.clone();
        full.sort();
        for window in [0..100, 100..200, 500..517, 0..517, 37..38, 517..517] {
            let mut v = items.clone();
            order_window(&mut v, window.clone(), |a, b| a.cmp(b));
            assert_eq!(&v[window.clone()], &full[window.clone()], "{window:?}");
        }
    }

    #[test]
    fn the_window_matches_the_page_served() {
        assert_eq!(page_window(&ctx("page_size=100"), 250), Some(0..100));
        assert_eq!(
            page_window(&ctx("page=3&page_size=100"), 250),
            Some(200..250)
        );
        assert_eq!(
            page_window(&ctx("page=last&page_size=100"), 250),
            Some(200..250)
        );
        assert_eq!(page_window(&ctx(""), 0), Some(0..0));
        assert_eq!(page_window(&ctx("page=4&page_size=100"), 250), None);
    }
}
