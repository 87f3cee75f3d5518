package store

// SetPageSize sets g's List page size, so that tests cross page boundaries.
func SetPageSize(g *GCS, n int) { g.pageSize = n }
