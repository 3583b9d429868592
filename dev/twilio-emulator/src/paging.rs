//! Twilio-style list paging: `Page`, `PageSize`, `PageToken` in, `meta` out.
//!
//! The emulator pages by offset. `PageToken` is `PT<offset>`; when a client follows
//! `next_page_url` verbatim the token wins over `Page * PageSize`, like Twilio's cursor.

use serde_json::{json, Value};
use url::form_urlencoded;

use crate::errors::{codes, TwilioError};

const PAGING_PARAMS: [&str; 3] = ["Page", "PageSize", "PageToken"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub page: usize,
    pub size: usize,
    pub offset: usize,
    /// Non-paging query parameters (filters such as `Address`), kept for page URLs.
    filters: Vec<(String, String)>,
}

fn invalid(name: &str, value: &str) -> TwilioError {
    TwilioError::bad_request(codes::INVALID_PARAMETER, format!("Invalid {name}: {value}"))
}

impl PageRequest {
    /// Reads paging parameters. `PageSize` above `max` is clamped to `max`.
    pub(crate) fn parse(
        query: &[(String, String)],
        default_size: usize,
        max_size: usize,
    ) -> Result<Self, TwilioError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let size = match get("PageSize") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| invalid("PageSize", v))?
                .min(max_size),
            None => default_size,
        };
        let page = match get("Page") {
            Some(v) => v.parse::<usize>().map_err(|_| invalid("Page", v))?,
            None => 0,
        };
        let offset = match get("PageToken") {
            Some(token) => token
                .strip_prefix("PT")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| invalid("PageToken", token))?,
            None => page * size,
        };
        let filters = query
            .iter()
            .filter(|(k, _)| !PAGING_PARAMS.contains(&k.as_str()))
            .cloned()
            .collect();
        Ok(Self {
            page,
            size,
            offset,
            filters,
        })
    }

    fn url(&self, base_url: &str, path: &str, page: usize, with_token: bool) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.filters {
            query.append_pair(k, v);
        }
        query.append_pair("PageSize", &self.size.to_string());
        query.append_pair("Page", &page.to_string());
        if with_token {
            query.append_pair("PageToken", &format!("PT{}", page * self.size));
        }
        format!("{base_url}{path}?{}", query.finish())
    }

    /// Slices `items` (the full, ordered list) and wraps the page in Twilio's envelope.
    pub(crate) fn respond(
        &self,
        items: Vec<Value>,
        key: &str,
        base_url: &str,
        path: &str,
    ) -> Value {
        let total = items.len();
        let page_items: Vec<Value> = items
            .into_iter()
            .skip(self.offset)
            .take(self.size)
            .collect();
        let has_next = self.offset + self.size < total;
        let next_page_url = has_next.then(|| self.url(base_url, path, self.page + 1, true));
        let previous_page_url =
            (self.page > 0).then(|| self.url(base_url, path, self.page - 1, self.page > 1));
        json!({
            key: page_items,
            "meta": {
                "page": self.page,
                "page_size": self.size,
                "first_page_url": self.url(base_url, path, 0, false),
                "previous_page_url": previous_page_url,
                "url": self.url(base_url, path, self.page, self.page > 0),
                "next_page_url": next_page_url,
                "key": key,
            },
        })
    }
}

impl PageRequest {
    /// The API 2010 envelope: items under `key` beside `start`, `end`, `page`,
    /// `page_size` and page URIs relative to the host, as Twilio's REST API answers.
    pub(crate) fn respond_2010(&self, items: Vec<Value>, key: &str, path: &str) -> Value {
        let total = items.len();
        let page_items: Vec<Value> = items
            .into_iter()
            .skip(self.offset)
            .take(self.size)
            .collect();
        let count = page_items.len();
        let has_next = self.offset + self.size < total;
        json!({
            key: page_items,
            "start": self.offset,
            "end": (self.offset + count).saturating_sub(1).max(self.offset),
            "page": self.page,
            "page_size": self.size,
            "first_page_uri": self.url("", path, 0, false),
            "previous_page_uri": (self.page > 0).then(|| self.url("", path, self.page - 1, self.page > 1)),
            "uri": self.url("", path, self.page, self.page > 0),
            "next_page_uri": has_next.then(|| self.url("", path, self.page + 1, true)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pages_through_with_next_page_url() {
        let items: Vec<Value> = (0..7).map(|i| json!(i)).collect();
        let first =
            PageRequest::parse(&q(&[("Address", "+15550001"), ("PageSize", "3")]), 50, 50).unwrap();
        let body = first.respond(
            items.clone(),
            "conversations",
            "http://h",
            "/v1/ParticipantConversations",
        );
        assert_eq!(body["conversations"], json!([0, 1, 2]));
        let next = body["meta"]["next_page_url"].as_str().unwrap();
        assert_eq!(
            next,
            "http://h/v1/ParticipantConversations?Address=%2B15550001&PageSize=3&Page=1&PageToken=PT3"
        );
        assert_eq!(body["meta"]["previous_page_url"], Value::Null);

        // Follow the URL's query exactly as a client would.
        let query: Vec<(String, String)> = url::Url::parse(next)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let second = PageRequest::parse(&query, 50, 50).unwrap();
        let body = second.respond(
            items.clone(),
            "conversations",
            "http://h",
            "/v1/ParticipantConversations",
        );
        assert_eq!(body["conversations"], json!([3, 4, 5]));
        assert_eq!(body["meta"]["page"], 1);
        assert!(body["meta"]["previous_page_url"]
            .as_str()
            .unwrap()
            .contains("Page=0"));

        let third = PageRequest::parse(&q(&[("PageSize", "3"), ("Page", "2")]), 50, 50).unwrap();
        let body = third.respond(items, "conversations", "http://h", "/p");
        assert_eq!(body["conversations"], json!([6]));
        assert_eq!(body["meta"]["next_page_url"], Value::Null);
    }

    #[test]
    fn api_2010_pages_carry_relative_uris_and_offsets() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let path = "/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json";
        let first = PageRequest::parse(&q(&[("PageSize", "2"), ("PhoneNumber", "+1")]), 50, 1000)
            .unwrap()
            .respond_2010(items.clone(), "incoming_phone_numbers", path);
        assert_eq!(first["incoming_phone_numbers"], json!([0, 1]));
        assert_eq!(
            (first["start"].clone(), first["end"].clone()),
            (json!(0), json!(1))
        );
        assert_eq!(
            first["next_page_uri"],
            format!("{path}?PhoneNumber=%2B1&PageSize=2&Page=1&PageToken=PT2")
        );
        assert_eq!(first["previous_page_uri"], Value::Null);
        assert_eq!(
            first["uri"],
            format!("{path}?PhoneNumber=%2B1&PageSize=2&Page=0")
        );
        let last = PageRequest::parse(&q(&[("PageSize", "2"), ("Page", "2")]), 50, 1000)
            .unwrap()
            .respond_2010(items, "incoming_phone_numbers", path);
        assert_eq!(last["incoming_phone_numbers"], json!([4]));
        assert_eq!(
            (last["start"].clone(), last["end"].clone()),
            (json!(4), json!(4))
        );
        assert_eq!(last["next_page_uri"], Value::Null);
    }

    #[test]
    fn page_size_is_clamped_and_validated() {
        assert_eq!(
            PageRequest::parse(&q(&[("PageSize", "500")]), 50, 100)
                .unwrap()
                .size,
            100
        );
        assert_eq!(PageRequest::parse(&[], 50, 100).unwrap().size, 50);
        assert!(PageRequest::parse(&q(&[("PageSize", "0")]), 50, 100).is_err());
        assert!(PageRequest::parse(&q(&[("PageToken", "garbage")]), 50, 100).is_err());
    }
}
