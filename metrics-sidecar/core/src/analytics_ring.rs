//! Fixed-width float rows in one ring: the newest `capacity` rows of `width`
//! floats, the oldest overwritten. It grows as rows arrive (a symbol with few
//! ticks stays small), 8 bytes a value.

pub struct Ring {
    width: usize,
    capacity: usize,
    data: Vec<f64>,
    head: usize, // where the next row goes (values); once full, the oldest row
    size: usize, // rows held
}

impl Ring {
    /// `width` and `capacity` of at least 1 (a 0 is taken as 1).
    pub fn new(width: usize, capacity: usize) -> Self {
        Ring {
            width: width.max(1),
            capacity: capacity.max(1),
            data: Vec::new(),
            head: 0,
            size: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// One row (`row.len() == width`).
    pub fn push(&mut self, row: &[f64]) {
        let width = self.width;
        let limit = width * self.capacity;
        if self.data.len() < limit {
            self.data.extend_from_slice(&row[..width]);
        } else {
            self.data[self.head..self.head + width].copy_from_slice(&row[..width]);
        }
        self.head += width;
        if self.head == limit {
            self.head = 0;
        }
        if self.size < self.capacity {
            self.size += 1;
        }
    }

    /// One row of a width known at compile time (`N == width`): the copy is
    /// a few moves, not a `memcpy` call.
    pub fn push_row<const N: usize>(&mut self, row: &[f64; N]) {
        if N != self.width {
            return self.push(row);
        }
        let limit = N * self.capacity;
        if self.data.len() < limit {
            self.data.extend_from_slice(row);
        } else if let Some(slot) = self
            .data
            .get_mut(self.head..self.head + N)
            .and_then(|s| <&mut [f64; N]>::try_from(s).ok())
        {
            *slot = *row;
        }
        self.head += N;
        if self.head == limit {
            self.head = 0;
        }
        if self.size < self.capacity {
            self.size += 1;
        }
    }

    /// The newest `count` rows, oldest first, flat.
    pub fn last(&self, count: usize) -> Vec<f64> {
        let mut out = Vec::new();
        self.last_into(count, &mut out);
        out
    }

    /// `last`, appended to `out`.
    pub fn last_into(&self, count: usize, out: &mut Vec<f64>) {
        let width = self.width;
        let count = count.min(self.size);
        // One past the newest row, in ring order.
        let end = if self.head == 0 {
            self.data.len()
        } else {
            self.head
        } / width;
        if count <= end {
            out.extend_from_slice(&self.data[(end - count) * width..end * width]);
        } else {
            let wrapped = count - end;
            out.extend_from_slice(
                &self.data[(self.capacity - wrapped) * width..self.capacity * width],
            );
            out.extend_from_slice(&self.data[..end * width]);
        }
    }

    /// The newest row's value in column `column`.
    pub fn newest(&self, column: usize) -> Option<f64> {
        if self.size == 0 {
            return None;
        }
        let end = if self.head == 0 {
            self.data.len()
        } else {
            self.head
        };
        self.data.get(end - self.width + column).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_rows_in_order() {
        let mut ring = Ring::new(3, 4);
        assert!(ring.last(5).is_empty());
        for i in 0..11 {
            let x = f64::from(i);
            if i % 2 == 0 {
                ring.push(&[x, 10.0 * x, 100.0 * x]);
            } else {
                ring.push_row(&[x, 10.0 * x, 100.0 * x]);
            }
            let first = (i - 3).max(0);
            let want: Vec<f64> = (first..=i).map(f64::from).collect();
            let got: Vec<f64> = ring.last(10).chunks(3).map(|r| r[0]).collect();
            assert_eq!(got, want);
            let two: Vec<f64> = ring.last(2).chunks(3).map(|r| r[2]).collect();
            let want_two: Vec<f64> = want[want.len().saturating_sub(2)..]
                .iter()
                .map(|x| 100.0 * x)
                .collect();
            assert_eq!(two, want_two);
            assert_eq!(ring.len(), want.len());
            assert_eq!(ring.newest(1), Some(10.0 * x));
        }
    }
}
