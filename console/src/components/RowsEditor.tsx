import { useEffect, useRef, useState, type ReactNode } from 'react'
import { Button, Fieldset, Group, Stack, Text } from '@mantine/core'
import './rows.css'

/** A row of an editable list: its value and a key that stays with it when the rows move. */
export interface Row<T> {
  key: number
  value: T
}

/**
 * The rows of an editable list, each with a stable key, and the focus to restore after a
 * row moves or goes (the button pressed may be disabled or gone at its new place).
 */
export function useRows<T>(initial: T[]) {
  const next = useRef(0)
  const make = (value: T): Row<T> => ({ key: next.current++, value })
  const [rows, setRows] = useState<Row<T>[]>(() => initial.map(make))
  const [focus, setFocus] = useState<string | null>(null)
  useEffect(() => {
    if (focus === null) return
    document.getElementById(focus)?.focus()
    setFocus(null)
  }, [focus])
  return {
    rows,
    add: (value: T) => {
      const row = make(value)
      setRows([...rows, row])
      return row.key
    },
    set: (key: number, value: T) => setRows(rows.map((r) => (r.key === key ? { ...r, value } : r))),
    move: (from: number, to: number) => {
      const moved = [...rows]
      const [row] = moved.splice(from, 1)
      if (row !== undefined) moved.splice(to, 0, row)
      setRows(moved)
    },
    remove: (key: number) => setRows(rows.filter((r) => r.key !== key)),
    focusLater: setFocus,
  }
}

export type Rows<T> = ReturnType<typeof useRows<T>>

/** What a row's fields are given: the row, its place, and the id its field `part` must have. */
export interface RowFields<T> {
  row: Row<T>
  index: number
  id: (part: string) => string
}

/**
 * An editable list of a form (a dialog's playbook steps, parties, escalation levels): each
 * row numbered in an `<ol>`, its fields, and "Remove <noun> n" — with `ordered`, "Move <noun>
 * n up" and "down" too (each disabled at its end); under the list, "Add <noun>", disabled at
 * `max`. Keyboard users keep their place: after a move the focus follows the row (to "Down"
 * when it reaches the top, and back); after a removal it goes to the next row's `focus`
 * field, else the previous one's, else "Add"; a new row's `focus` field takes it at once.
 * With `legend`, each row is a fieldset named "<Noun> n" (for rows of several fields).
 */
export function RowsEditor<T>({
  rows,
  noun,
  idBase,
  focus,
  max,
  newRow,
  empty,
  ordered = false,
  legend = false,
  fields,
  below,
}: {
  rows: Rows<T>
  /** The row's name in labels, lower case: "step" → "Remove step 2", "Add step". */
  noun: string
  /** A base for the ids (React's useId of the form). */
  idBase: string
  /** The `part` of the field to focus in a row (its id is `id(part)` in `fields`). */
  focus: string
  max: number
  newRow: () => T
  /** Said where there is no row yet. */
  empty?: string
  ordered?: boolean
  legend?: boolean
  /** The row's fields, on one line with its buttons. */
  fields: (props: RowFields<T>) => ReactNode
  /** More of the row, under that line. */
  below?: (props: RowFields<T>) => ReactNode
}) {
  const id = (key: number, part: string) => `${idBase}-${key}-${part}`
  const addId = `${idBase}-add`
  const Noun = noun.charAt(0).toUpperCase() + noun.slice(1)
  const count = rows.rows.length

  const move = (from: number, to: number, key: number) => {
    rows.move(from, to)
    const direction = to < from ? 'up' : 'down'
    const atEnd = direction === 'up' ? to === 0 : to === count - 1
    rows.focusLater(id(key, atEnd ? (direction === 'up' ? 'down' : 'up') : direction))
  }
  const remove = (index: number, key: number) => {
    const after = rows.rows[index + 1] ?? rows.rows[index - 1]
    rows.remove(key)
    rows.focusLater(after === undefined ? addId : id(after.key, focus))
  }

  const line = (row: Row<T>, index: number) => {
    const props = { row, index, id: (part: string) => id(row.key, part) }
    const n = index + 1
    const content = (
      <Stack gap="xs">
        <Group gap="xs" align="flex-end" wrap={ordered ? 'nowrap' : 'wrap'}>
          {fields(props)}
          <Group gap={4} wrap="nowrap">
            {ordered ? (
              <>
                <Button
                  id={id(row.key, 'up')}
                  size="xs"
                  variant="default"
                  aria-label={`Move ${noun} ${n} up`}
                  disabled={index === 0}
                  onClick={() => move(index, index - 1, row.key)}
                >
                  Up
                </Button>
                <Button
                  id={id(row.key, 'down')}
                  size="xs"
                  variant="default"
                  aria-label={`Move ${noun} ${n} down`}
                  disabled={index === count - 1}
                  onClick={() => move(index, index + 1, row.key)}
                >
                  Down
                </Button>
              </>
            ) : null}
            <Button
              size="xs"
              variant="default"
              aria-label={`Remove ${noun} ${n}`}
              onClick={() => remove(index, row.key)}
            >
              Remove
            </Button>
          </Group>
        </Group>
        {below?.(props)}
      </Stack>
    )
    return legend ? (
      <Fieldset legend={`${Noun} ${n}`} variant="unstyled">
        {content}
      </Fieldset>
    ) : (
      content
    )
  }

  return (
    <>
      {count === 0 && empty !== undefined ? (
        <Text size="sm" c="dimmed">
          {empty}
        </Text>
      ) : (
        <ol className="rows-editor">
          {rows.rows.map((row, index) => (
            <li key={row.key}>{line(row, index)}</li>
          ))}
        </ol>
      )}
      <Group>
        <Button
          id={addId}
          size="xs"
          variant="default"
          disabled={count >= max}
          onClick={() => rows.focusLater(id(rows.add(newRow()), focus))}
        >
          Add {noun}
        </Button>
      </Group>
    </>
  )
}
