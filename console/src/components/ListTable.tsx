import type { ReactNode } from 'react'
import { Button, Table, type ButtonProps, type TableProps } from '@mantine/core'

/**
 * A table of rows (`children`: Table.Tr) under one header row, named by `label`; every
 * header is a column header (`scope="col"`). A column given as null is left out (one the
 * caller has no use for, e.g. actions it may not take).
 */
export function ListTable({
  label,
  columns,
  children,
  ...props
}: { label: string; columns: ReactNode[]; children: ReactNode } & Omit<TableProps, 'children'>) {
  return (
    <Table aria-label={label} {...props}>
      <Table.Thead>
        <Table.Tr>
          {columns.map((column, i) =>
            column === null ? null : (
              <Table.Th key={typeof column === 'string' ? column : i} scope="col">
                {column}
              </Table.Th>
            ),
          )}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>{children}</Table.Tbody>
    </Table>
  )
}

/**
 * A small button acting on one row of a ListTable, named for that row (`label`: "Delete
 * role auditor"), since its visible word alone ("Delete") would not say which.
 */
export function RowAction({
  label,
  size = 'xs',
  variant = 'default',
  ...props
}: { label: string; onClick: () => void } & Pick<
  ButtonProps,
  'children' | 'loading' | 'disabled' | 'color' | 'variant' | 'size'
>) {
  return <Button size={size} variant={variant} aria-label={label} {...props} />
}
