#!/usr/bin/env python3
"""Checks the internal links of the built book and of markdown files read on a git host.

    scripts/check-links.py --book target/book README.md docs/architecture.md ...

Built book: every relative href/src of every page must name a file that exists, and an
`#anchor` into a page (or into the same page) must be an id of that page. Links that leave the
book (to ../../config/ordo.yaml, say) are checked the same way: target/book and docs/src sit at
the same depth, so a link that works from a chapter's source works from its page too.

Markdown: every relative link must name a file or directory that exists, and an `#anchor` into
a markdown file must be a heading of it, slugged as git hosts slug them (GitHub's rules). Includes
(`{{#include}}`) are not expanded: a git host shows them as they are, so link to the included file.

External links (http:, https:, mailto:) are not checked. Exits 1 naming each broken link.
"""

import argparse
import html.parser
import os
import re
import sys
import urllib.parse

SKIP_SCHEMES = ("http:", "https:", "mailto:", "javascript:", "data:", "ftp:")


def is_checked(target):
    t = target.strip()
    return t and not t.lower().startswith(SKIP_SCHEMES) and not t.startswith(("/", "//"))


def split(target):
    path, _, frag = target.partition("#")
    path = path.split("?", 1)[0]
    return urllib.parse.unquote(path), urllib.parse.unquote(frag)


def check_target(source, line, target, base, anchors):
    """Why `target`, linked at `source`:`line` (relative to `base`), is broken, or None.
    `anchors` is (the extension whose files have anchors, a function giving a file's anchors,
    what an anchor is called)."""
    ext, anchors_of, called = anchors
    path, frag = split(target)
    dest = os.path.normpath(os.path.join(base, path)) if path else source
    if not os.path.exists(dest):
        return f"{source}:{line}: {target}: no such file ({dest})"
    if frag and dest.endswith(ext) and frag not in anchors_of(dest):
        return f"{source}:{line}: {target}: no {called} #{frag} in {dest}"
    return None


# ---- built HTML ---------------------------------------------------------------------------


class Page(html.parser.HTMLParser):
    LINK_ATTRS = {"a": "href", "link": "href", "img": "src", "script": "src"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name" if tag == "a" else None):
            if key and attrs.get(key):
                self.ids.add(attrs[key])
        attr = self.LINK_ATTRS.get(tag)
        if attr and attrs.get(attr):
            self.links.append((attrs[attr], self.getpos()[0]))


_pages = {}


def parse_html(path):
    if path not in _pages:
        page = Page()
        with open(path, encoding="utf-8") as f:
            page.feed(f.read())
        _pages[path] = page
    return _pages[path]


def check_book(book):
    broken = []
    for root, _, files in os.walk(book):
        for name in sorted(files):
            # 404.html is served for any path: its links are relative to the site root.
            if not name.endswith(".html") or os.path.relpath(os.path.join(root, name), book) == "404.html":
                continue
            page_path = os.path.join(root, name)
            anchors = (".html", lambda dest: parse_html(dest).ids, "anchor")
            for target, line in parse_html(page_path).links:
                if is_checked(target):
                    why = check_target(page_path, line, target, root, anchors)
                    broken += [why] if why else []
    return broken


# ---- markdown -----------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for n, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield n, line


def github_slug(heading):
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters of any script, digits and _
    return text.replace(" ", "-")


_anchors = {}


def md_anchors(path):
    if path not in _anchors:
        seen, anchors = {}, set()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for _, line in prose_lines(text):
            m = HEADING.match(line)
            if m:
                slug = github_slug(m.group(2))
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                anchors.add(slug if n == 0 else f"{slug}-{n}")
        anchors.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
        _anchors[path] = anchors
    return _anchors[path]


def check_markdown(path):
    broken = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    base = os.path.dirname(path)
    for n, line in prose_lines(text):
        line = INLINE_CODE.sub("", line)
        targets = [m.group(1) for m in LINK.finditer(line)]
        m = REF_DEF.match(line)
        if m:
            targets.append(m.group(1))
        for target in filter(is_checked, targets):
            why = check_target(path, n, target, base, (".md", md_anchors, "heading"))
            broken += [why] if why else []
    return broken


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--book", help="the built book's directory (mdbook's build-dir)")
    ap.add_argument("markdown", nargs="*", help="markdown files read on a git host")
    args = ap.parse_args()
    broken = check_book(args.book) if args.book else []
    for path in args.markdown:
        broken += check_markdown(path)
    for b in broken:
        print(f"broken link: {b}", file=sys.stderr)
    pages = len(_pages)
    print(f"links: {pages} book pages and {len(args.markdown)} markdown files checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
