package gcemetadata

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials/idtoken"
)

func get(t *testing.T, s *Server, path string, flavor bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.Host+"/computeMetadata/v1/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if flavor {
		req.Header.Set("Metadata-Flavor", "Google")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Metadata-Flavor") != "Google" {
		t.Errorf("%s: answer without Metadata-Flavor: Google", path)
	}
	return resp.StatusCode, string(b)
}

// TestTokens checks the answers the Google libraries rely on (the
// libraries themselves are exercised against the stand-in in
// shared/credential), and the audit of what a target gets.
func TestTokens(t *testing.T) {
	s := Start(3 * time.Second)
	defer s.Close()
	a := s.NewAudit()

	if code, _ := get(t, s, "instance/service-accounts/default/token", false); code != http.StatusForbidden {
		t.Errorf("without Metadata-Flavor: %d, want 403", code)
	}
	code, body := get(t, s, "instance/service-accounts/default/token?scopes=a,b", true)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(body), &tok); code != 200 || err != nil || tok.AccessToken == "" || tok.ExpiresIn < 2 || tok.ExpiresIn > 3 || tok.TokenType != "Bearer" {
		t.Fatalf("token: %d %s (%v)", code, body, err)
	}
	code, jwt := get(t, s, "instance/service-accounts/default/identity?audience=https://x.example&format=full", true)
	p, err := idtoken.ParsePayload(jwt)
	if code != 200 || err != nil || p.Audience != "https://x.example" || time.Until(time.Unix(p.Expires, 0)) > 3*time.Second {
		t.Fatalf("identity: %d %q: %+v %v", code, jwt, p, err)
	}
	if got := s.Asked(); len(got) != 2 || got[0] != "a,b" || got[1] != "https://x.example" {
		t.Errorf("Asked() = %q", got)
	}

	for _, v := range []string{"Bearer " + tok.AccessToken, "Bearer " + jwt, "Bearer " + jwt, "Bearer forged", "Basic x"} {
		a.Check(v)
	}
	if c := a.Counts(); c != (Counts{OK: 3, Unknown: 1, Missing: 1, Distinct: 3}) {
		t.Errorf("counts %+v", c)
	}
	if known, current := s.Check(tok.AccessToken, time.Now().Add(4*time.Second)); !known || current {
		t.Errorf("4 s later: known %v current %v, want an expired token", known, current)
	}

	s.Fail("no service account")
	if code, body := get(t, s, "instance/service-accounts/default/token", true); code != http.StatusForbidden || !strings.Contains(body, "no service account") {
		t.Errorf("failing: %d %q", code, body)
	}
	if s.Issued() != 2 {
		t.Errorf("Issued() = %d, want 2", s.Issued())
	}
}
