; example.com — the friendly example zone used by the README.
; Try: dig @127.0.0.1 -p 5353 www.example.com A
$ORIGIN example.com.
$TTL 3600

@       IN  SOA ns1.example.com. hostmaster.example.com. (
                2024010101 ; serial
                7200       ; refresh
                3600       ; retry
                1209600    ; expire
                300 )      ; minimum (negative-caching TTL)
        IN  NS   ns1
        IN  NS   ns2
        IN  A    192.0.2.10
        IN  AAAA 2001:db8::10
        IN  MX   10 mail
        IN  MX   20 mail2
        IN  TXT  "v=spf1 mx -all"
        IN  CAA  0 issue "letsencrypt.org"

ns1     IN  A    192.0.2.1
        IN  AAAA 2001:db8::1
ns2     IN  A    192.0.2.2
        IN  AAAA 2001:db8::2
; name server named by the RFC 4592 test zone (example.)
ns      IN  A    192.0.2.3

www     IN  A    192.0.2.10
        IN  AAAA 2001:db8::10
mail    IN  A    192.0.2.25
        IN  AAAA 2001:db8::25
mail2   IN  A    192.0.2.26
ftp     IN  CNAME www
blog    IN  CNAME www.example.com.
api  300 IN  A   192.0.2.30
api  300 IN  A    192.0.2.31
_http._tcp  IN SRV 0 5 80 www
_submission._tcp IN SRV 10 1 587 mail
