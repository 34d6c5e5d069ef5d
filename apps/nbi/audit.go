package nbi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// AuditEntry is one audit record as GET /api/v1/audit shows it.
type AuditEntry struct {
	Seq  int64  `json:"seq"`
	Time string `json:"time"`
	AuditRecord
}

// AuditList is the response of GET /api/v1/audit.
type AuditList struct {
	Items []AuditEntry `json:"items"`
	// Next is the ledger sequence number to pass as ?from= for the next page (0: none).
	Next int64 `json:"next,omitempty"`
}

func auditRoutes(s *Server) []Route {
	return []Route{{Method: http.MethodGet, Pattern: "/api/v1/audit",
		Summary: "Audit records: every authenticated write and every denial (admin)", Tags: []string{"security"},
		Params: []Param{{Name: "from", In: "query", Type: "integer", Description: "first ledger sequence number"},
			{Name: "limit", In: "query", Type: "integer", Description: "at most this many ledger records are scanned (default 1000)"}},
		Response: AuditList{}, Errors: []int{400, 401, 403, 503}, Handler: s.listAudit}}
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if s.guard.audit == nil {
		return Errorf(http.StatusServiceUnavailable, "no-audit", "Audit not available", "", "this server keeps no audit ledger")
	}
	q := r.URL.Query()
	from, limit := int64(1), 1000
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return BadRequest("from", "from must be a non-negative integer")
		}
		from = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return BadRequest("limit", "limit must be an integer from 1 to 10000")
		}
		limit = n
	}
	recs, err := s.guard.audit.List(r.Context(), from, limit)
	if err != nil {
		return err
	}
	out := AuditList{Items: []AuditEntry{}}
	for _, rec := range recs {
		if rec.Kind != AuditKind {
			continue
		}
		e := AuditEntry{Seq: rec.Seq, Time: rec.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
		if json.Unmarshal(rec.Payload, &e.AuditRecord) != nil {
			continue
		}
		out.Items = append(out.Items, e)
	}
	if len(recs) == limit {
		out.Next = recs[len(recs)-1].Seq + 1
	}
	return writeJSON(w, http.StatusOK, out)
}
