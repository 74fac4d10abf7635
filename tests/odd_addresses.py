"""Legal but odd addresses and contact ids: each one is accepted by the normaliser as it
is written (tests/test_web_http.py checks that), and each must reach its page and the
operator API."""

ODD_EMAILS = [
    "x{y}@example.com", "{curly}@example.com", "a|b@example.com", "o'brien@example.com", "a+tag@example.com",
    "a/b@example.com", "a%b@example.com", "a%2fb@example.com", "a?b@example.com", "a#b@example.com",
    "a&b=c@example.com", "a~b^c`d@example.com", "a!b$c*d@example.com", "jürgen@example.de", "用户@例子.广告",
    "анна@пример.рф", "x@bücher.de", "x@xn--bcher-kva.de", "δοκιμή@παράδειγμα.δοκιμή",
]
ODD_PHONES = ["+46701234567", "+12025550123", "+442079460958", "+81312345678"]
ODD_CONTACTS = ["c{1}", "c/2", "c 3", "c%4", "c?5#6", "kontakt-ö", "c|'+\"<>"]
